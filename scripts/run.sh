#!/usr/bin/env bash
# `make run`: a local mosquitto, a simulated ward (50 lighting cabinets, two
# SDM120 and two DDS238 meters on 127.0.0.1:15020-15073) and the gateway on
# config/gateway.conf, printing the ward's live figures. Ctrl-C stops all.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN="$ROOT/run"
MQTT_PORT=18830
BASE_PORT=15020
CTL_PORT=15019
SPEED=${WARDGW_SIM_SPEED:-60}
mkdir -p "$RUN/data"
pids=""

stop_all() {
	trap - INT TERM EXIT
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	echo "run: stopped (logs in $RUN)"
}
trap stop_all INT TERM EXIT

busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $MQTT_PORT $BASE_PORT $CTL_PORT; do
	if busy "$p"; then
		echo "run: port $p on 127.0.0.1 is in use (another 'make run'?); stop it first" >&2
		exit 1
	fi
done

cat > "$RUN/mosquitto.conf" <<EOC
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
EOC
mosquitto -c "$RUN/mosquitto.conf" > "$RUN/mosquitto.log" 2>&1 &
pids="$pids $!"

# Start the simulated clock at 17:55 ward time today, 60x faster, so the
# lamps switch on within 5 seconds and a night passes in 12 minutes.
now=$(date +%s)
start=$(( (now + 7*3600) / 86400 * 86400 - 7*3600 + 17*3600 + 55*60 ))
# Then six environment sensors (two PM, temperature/humidity, noise, two
# water levels) whose pollution episode and flood rise repeat every 6 minutes.
"$ROOT/build/wardgw-sim" --base-port $BASE_PORT --cabinets 50 --sdm120 2 --dds238 2 \
	--pm 2 --th 1 --noise 1 --water 2 --env-period 360 \
	--speed "$SPEED" --start "$start" --control $CTL_PORT > "$RUN/sim.log" 2>&1 &
pids="$pids $!"

for _ in $(seq 100); do
	busy $MQTT_PORT && grep -q ready "$RUN/sim.log" && break
	sleep 0.1
done
grep -q ready "$RUN/sim.log" || { echo "run: simulator did not start:" >&2; cat "$RUN/sim.log" >&2; exit 1; }

# Four public Wi-Fi hotspots (hostapd control sockets) with clients coming
# and going all the time, and a modem on a pty driving through the ward.
mkdir -p "$RUN/hostapd"
"$ROOT/build/wardgw-sim" hostapd --dir "$RUN/hostapd" --aps 4 --clients 40 --step-ms 700 --churn-secs 1000000 \
	> "$RUN/hostapd.log" 2>&1 &
pids="$pids $!"
"$ROOT/build/wardgw-sim" modem --link "$RUN/ttyMODEM" --speed 10 > "$RUN/modem.log" 2>&1 &
pids="$pids $!"

# A drive test over the simulated ward (a known 5G dead zone), imported once.
"$ROOT/build/wardgw-sim" survey --out "$RUN/survey.csv" --time $(( now - 3600 )) 2> "$RUN/survey.log"
"$ROOT/build/wardgw" import-survey -c "$ROOT/config/gateway.conf" "$RUN/survey.csv" 2>> "$RUN/survey.log" | sed 's/^/run: survey /'

echo "run: mosquitto on 127.0.0.1:$MQTT_PORT, simulated ward on 127.0.0.1:$BASE_PORT-$((BASE_PORT + 59)) (clock x$SPEED)"
echo "run: watch the IOC feed with: mosquitto_sub -p $MQTT_PORT -v -t 'ward/#'"
echo "run: break a device with:     build/wardgw-sim --ctl $CTL_PORT mute 3"
echo "run: air and floods (AQI hour = 10 s here): mosquitto_sub -p $MQTT_PORT -v -t 'ward/+/kpi/environment' -t 'ward/+/event/#'"
echo "run: coverage and dead spots: build/wardgw coverage -c config/gateway.conf --geojson run/deadspots.geojson"
echo "run: query the history with:  build/wardgw query -c config/gateway.conf --device cabinet-001 --metric activePower"
"$ROOT/build/wardgw" run -c "$ROOT/config/gateway.conf" --live 5 2> >(tee "$RUN/gateway.log" >&2) &
gw=$!
pids="$pids $gw"
wait $gw

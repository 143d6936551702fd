/* hostapd control-interface text: STATUS, STA, events, against hostapd's
 * real output format and against garbage. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hostapd_parse.h"

/* shaped like hostapd 2.10's reply on a single-BSS AP with chan_util_avg_period set */
static const char status_txt[] =
	"state=ENABLED\n"
	"phy=phy0\n"
	"freq=2437\n"
	"num_sta_non_erp=0\n"
	"num_sta_no_short_slot_time=0\n"
	"num_sta_no_short_preamble=0\n"
	"olbc=0\n"
	"num_sta_ht_no_gf=2\n"
	"num_sta_no_ht=0\n"
	"num_sta_ht_20_mhz=2\n"
	"num_sta_ht40_intolerant=0\n"
	"olbc_ht=0\n"
	"ht_op_mode=0x0\n"
	"cac_time_seconds=0\n"
	"cac_time_left_seconds=N/A\n"
	"channel=6\n"
	"edmg_enable=0\n"
	"edmg_channel=0\n"
	"secondary_channel=0\n"
	"ieee80211n=1\n"
	"ieee80211ac=0\n"
	"ieee80211ax=0\n"
	"beacon_int=100\n"
	"dtim_period=2\n"
	"chan_util_avg=87\n"
	"supported_rates=02 04 0b 16 0c 12 18 24 30 48 60 6c\n"
	"max_txpower=20\n"
	"bss[0]=wlan0\n"
	"bssid[0]=02:00:00:00:00:00\n"
	"ssid[0]=PhuocLong-Free\n"
	"num_sta[0]=2\n"
	"bss[1]=wlan0-1\n"
	"bssid[1]=02:00:00:00:00:01\n"
	"ssid[1]=PhuocLong-Staff\n"
	"num_sta[1]=1\n";

static void test_status(void **state)
{
	struct hostapd_status st;

	assert_int_equal(hostapd_parse_status(status_txt, strlen(status_txt), &st), 0);
	assert_string_equal(st.state, "ENABLED");
	assert_true(st.enabled);
	assert_int_equal(st.freq, 2437);
	assert_int_equal(st.channel, 6);
	assert_int_equal(st.nbss, 2);
	assert_int_equal(st.num_sta, 3);
	assert_int_equal(st.chan_util_avg, 87);

	const char *dis = "state=DISABLED\nfreq=0\nchannel=0\n";
	assert_int_equal(hostapd_parse_status(dis, strlen(dis), &st), 0);
	assert_false(st.enabled);
	assert_int_equal(st.chan_util_avg, -1);
	assert_int_equal(st.num_sta, 0);
}

static void test_status_garbage(void **state)
{
	struct hostapd_status st;
	const char *bad[] = {
		"", "FAIL\n", "freq=2437\n", "state=ENABLED\nfreq=24x7\n", "state=ENABLED\nchannel=999\n",
		"state=ENABLED\nchan_util_avg=256\n", "state=ENABLED\nnum_sta[0]=-1\n", "state=enabled\n",
		"state=ENABLED\nnum_sta[0]=99999999999999999999\n", "state=\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hostapd_parse_status(bad[i], strlen(bad[i]), &st), -EINVAL);
	/* an index out of range is not a BSS of ours: ignored, not counted */
	const char *odd = "state=ENABLED\nnum_sta[99]=5\nssid[x]=a\n";
	assert_int_equal(hostapd_parse_status(odd, strlen(odd), &st), 0);
	assert_int_equal(st.num_sta, 0);
	assert_int_equal(st.nbss, 0);
}

static const char sta_txt[] =
	"02:00:00:00:01:0a\n"
	"flags=[AUTH][ASSOC][AUTHORIZED][SHORT_PREAMBLE][WMM][HT]\n"
	"aid=1\n"
	"capability=0x421\n"
	"listen_interval=10\n"
	"supported_rates=82 84 8b 96 0c 12 18 24 30 48 60 6c\n"
	"timeout_next=NULLFUNC POLL\n"
	"dot11RSNAStatsSTAAddress=02:00:00:00:01:0a\n"
	"rx_packets=1532\n"
	"tx_packets=2101\n"
	"rx_bytes=183422\n"
	"tx_bytes=2833190\n"
	"inactive_msec=350\n"
	"signal=-61\n"
	"rx_rate_info=650 mcs 7 shortGI\n"
	"tx_rate_info=722 mcs 7 shortGI\n"
	"connected_time=412\n";

static void test_sta(void **state)
{
	struct hostapd_sta s;
	const uint8_t mac[6] = { 0x02, 0, 0, 0, 0x01, 0x0a };

	assert_int_equal(hostapd_parse_sta(sta_txt, strlen(sta_txt), &s), 0);
	assert_memory_equal(s.mac, mac, 6);
	assert_int_equal(s.flags, STA_AUTH | STA_ASSOC | STA_AUTHORIZED);
	assert_int_equal(s.rx_bytes, 183422);
	assert_int_equal(s.tx_bytes, 2833190);
	assert_true(s.has_signal);
	assert_int_equal(s.signal, -61);
	assert_int_equal(s.inactive_msec, 350);
	assert_int_equal(s.connected_time, 412);

	assert_int_equal(hostapd_parse_sta("FAIL\n", 5, &s), -ENOENT);
	assert_int_equal(hostapd_parse_sta("", 0, &s), -ENOENT);
	const char *nosig = "AA:BB:CC:DD:EE:FF\nflags=[AUTH]\n";
	assert_int_equal(hostapd_parse_sta(nosig, strlen(nosig), &s), 0);
	assert_false(s.has_signal);
	assert_int_equal(s.rx_bytes, -1);
	assert_int_equal(s.mac[0], 0xaa);
}

static void test_sta_garbage(void **state)
{
	struct hostapd_sta s;
	const char *bad[] = {
		"02:00:00:00:01\n", "02:00:00:00:01:0g\n", "02-00-00-00-01-0a\n",
		"02:00:00:00:01:0a\nsignal=-300\n", "02:00:00:00:01:0a\nrx_bytes=-5\n",
		"02:00:00:00:01:0a\nflags=AUTH\n", "02:00:00:00:01:0a\nflags=[AUTH\n",
		"02:00:00:00:01:0a\ngarbage line\n", "02:00:00:00:01:0a\ntx_bytes=1e6\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hostapd_parse_sta(bad[i], strlen(bad[i]), &s), -EINVAL);
}

static void test_events(void **state)
{
	struct hostapd_event ev;
	const uint8_t mac[6] = { 0x02, 0, 0, 0, 0x01, 0x0a };
	const char *c = "<3>AP-STA-CONNECTED 02:00:00:00:01:0a";
	const char *d = "<3>AP-STA-DISCONNECTED 02:00:00:00:01:0a\n";
	const char *k = "<3>AP-STA-CONNECTED 02:00:00:00:01:0a keyid=guest p2p_dev_addr=00:00:00:00:00:00";

	assert_int_equal(hostapd_parse_event(c, strlen(c), &ev), 0);
	assert_int_equal(ev.kind, HEV_CONNECTED);
	assert_int_equal(ev.level, 3);
	assert_memory_equal(ev.mac, mac, 6);
	assert_int_equal(hostapd_parse_event(d, strlen(d), &ev), 0);
	assert_int_equal(ev.kind, HEV_DISCONNECTED);
	assert_int_equal(hostapd_parse_event(k, strlen(k), &ev), 0);
	assert_int_equal(ev.kind, HEV_CONNECTED);
	assert_int_equal(hostapd_parse_event("<3>AP-DISABLED", 14, &ev), 0);
	assert_int_equal(ev.kind, HEV_AP_DISABLED);
	assert_int_equal(hostapd_parse_event("AP-ENABLED", 10, &ev), 0);
	assert_int_equal(ev.level, -1);

	assert_int_equal(hostapd_parse_event("<3>CTRL-EVENT-EAP-STARTED 02:00:00:00:01:0a", 43, &ev), -ENOENT);
	assert_int_equal(hostapd_parse_event("<3>AP-STA-CONNECTEDX 02:00:00:00:01:0a", 38, &ev), -ENOENT);
	assert_int_equal(hostapd_parse_event("<3>AP-STA-CONNECTED", 19, &ev), -EINVAL);
	assert_int_equal(hostapd_parse_event("<3>AP-STA-CONNECTED 02:00:00:00:01", 34, &ev), -EINVAL);
	assert_int_equal(hostapd_parse_event("<3>AP-STA-CONNECTED 02:00:00:00:01:0ab", 38, &ev), -EINVAL);
	assert_int_equal(hostapd_parse_event("<x>AP-ENABLED", 13, &ev), -EINVAL);
	assert_int_equal(hostapd_parse_event("<3AP-ENABLED", 12, &ev), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_status_garbage),
		cmocka_unit_test(test_sta),
		cmocka_unit_test(test_sta_garbage),
		cmocka_unit_test(test_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#!/usr/bin/python3
# Reference sunrise/sunset/civil twilight for tests/unit/test_sun.c, from
# PyEphem (Debian python3-ephem, VSOP87 positions), an implementation
# independent of gateway/sun.c. Conventions of the USNO almanac: no computed
# refraction (pressure 0), horizon -0:34 for the Sun's upper limb (34'
# refraction + the 16' semi-diameter = the -0°50' of DOMAIN.md), and -6° for
# the centre in civil twilight. Times printed in UTC+7 (Asia/Ho_Chi_Minh) for
# the Vietnamese places and in UTC for the others.
# Usage: apt-get install python3-ephem; scripts/sun_reference.py
import ephem, datetime

places = [
    ("Ho Chi Minh City", 10.7769, 106.7009, 7),
    ("Bien Hoa (Dong Nai)", 10.9574, 106.8427, 7),
    ("Phuoc Long", 11.8370, 106.9930, 7),
    ("Ha Noi", 21.0285, 105.8542, 7),
    ("Tromso", 69.6492, 18.9553, 0),
    ("Helsinki", 60.1699, 24.9384, 0),
]
dates = ["2026-02-17", "2026-03-20", "2026-06-21", "2026-09-23", "2026-12-21"]

for name, lat, lon, tz in places:
    for d in dates:
        y, m, dd = map(int, d.split("-"))
        o = ephem.Observer()
        o.lat, o.lon, o.pressure, o.elevation = str(lat), str(lon), 0, 0
        noon = datetime.datetime(y, m, dd, 12) - datetime.timedelta(hours=tz)
        o.date = ephem.Date(noon)
        out = []
        for horizon, center in (("-0:34", False), ("-6", True)):
            o.horizon = horizon
            try:
                r = o.previous_rising(ephem.Sun(), use_center=center).datetime()
                s = o.next_setting(ephem.Sun(), use_center=center).datetime()
                f = lambda t: (t + datetime.timedelta(hours=tz, )).strftime("%H:%M:%S")
                out.append("%s %s" % (f(r), f(s)))
            except ephem.AlwaysUpError:
                out.append("always-up")
            except ephem.NeverUpError:
                out.append("never-up")
        print("%-20s %s  rise/set %s  civil %s" % (name, d, out[0], out[1]))

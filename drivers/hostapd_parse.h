/* Pure parsers for hostapd's control interface text: the STATUS reply, one
 * station (STA-FIRST / STA-NEXT), and the unsolicited events after ATTACH
 * ("<3>AP-STA-CONNECTED aa:bb:cc:dd:ee:ff"). No I/O; any thread. */
#ifndef WARDGW_HOSTAPD_PARSE_H
#define WARDGW_HOSTAPD_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define HOSTAPD_MAX_BSS 16

struct hostapd_status {
	char state[24];             /* ENABLED, DISABLED, COUNTRY_UPDATE, ... */
	int enabled;                /* state == ENABLED */
	int freq;                   /* MHz, 0 when absent */
	int channel;                /* 0 when absent */
	int nbss;                   /* ssid[i] entries seen */
	int num_sta;                /* sum of num_sta[i] */
	int chan_util_avg;          /* 0..255, -1 when not configured */
};

/** Parse a STATUS reply (@len bytes, key=value lines). Unknown keys are
 *  ignored; a known key with a bad value, or no state=, is -EINVAL. */
int hostapd_parse_status(const char *buf, size_t len, struct hostapd_status *out);

#define STA_AUTH       0x1
#define STA_ASSOC      0x2
#define STA_AUTHORIZED 0x4

struct hostapd_sta {
	uint8_t mac[6];
	unsigned flags;             /* STA_* */
	int64_t rx_bytes, tx_bytes; /* -1 when absent */
	int signal;                 /* dBm; 0 when absent */
	int has_signal;
	int64_t inactive_msec;      /* -1 when absent */
	int64_t connected_time;     /* s, -1 when absent */
};

/** Parse one station: the MAC on the first line, then key=value lines.
 *  -ENOENT for an empty reply or "FAIL" (end of the list), -EINVAL for garbage. */
int hostapd_parse_sta(const char *buf, size_t len, struct hostapd_sta *out);

enum hostapd_event_kind { HEV_CONNECTED = 1, HEV_DISCONNECTED = 2, HEV_AP_ENABLED = 3, HEV_AP_DISABLED = 4 };

struct hostapd_event {
	enum hostapd_event_kind kind;
	int level;                  /* the <N> priority prefix, -1 when absent */
	uint8_t mac[6];             /* for station events */
};

/** Parse an unsolicited message. -ENOENT for events we do not use, -EINVAL for garbage. */
int hostapd_parse_event(const char *buf, size_t len, struct hostapd_event *out);

/** "aa:bb:cc:dd:ee:ff" (exactly 17 chars at @s, case-insensitive) -> 6 bytes. 0 or -EINVAL. */
int mac_parse(const char *s, size_t len, uint8_t mac[6]);

#endif

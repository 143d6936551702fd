/* Lamp and cabinet alarms (TALQ failure names) from what a lighting
 * device reports and what the schedule wants: raised when a condition has
 * held for events.hold_s, cleared when it has been gone as long, sent as
 * events (event/alarm), stored in the alarm table (for the history and the
 * mean time to repair). Loop thread. */
#ifndef WARDGW_LAMP_ALARM_H
#define WARDGW_LAMP_ALARM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct device;
struct gateway;
struct lamp_alarms;
struct sqlite3;

enum lamp_alarm {
	AL_LAMP_FAILURE,        /* lampFailure: should be lit, gives no light */
	AL_DAY_BURNER,          /* lampUnexpectedOn: lit while the schedule wants off */
	AL_VOLTAGE_HIGH,        /* lampVoltageTooHigh */
	AL_VOLTAGE_LOW,         /* lampVoltageTooLow */
	AL_PF_LOW,              /* powerFactorTooLow */
	AL_RELAY,               /* relayFailure */
	AL_GEAR_COMM,           /* controlGearCommFailure: a write was not confirmed */
	AL_DOOR,                /* cabinetDoorOpen */
	AL_SUPPLY,              /* supplyLoss */
	AL_UNREACHABLE,         /* deviceUnreachable */
	AL_COUNT
};

const char *lamp_alarm_name(enum lamp_alarm a);

/** For @ndev devices (indexes are the caller's); reopens alarms left open in the store. */
int lamp_alarms_new(struct lamp_alarms **out, struct gateway *gw, struct device **devs, size_t ndev);
void lamp_alarms_free(struct lamp_alarms *la);

/**
 * Evaluate device @i at @now_ms: @wanted is the schedule's level (NaN:
 * none), @write_failed whether the last write was not confirmed,
 * @polled_ms when the device's last values were read, @switching whether
 * the level the schedule wants is not yet written (a write in flight or
 * waiting). Lamp failure and day burner are judged only on values read
 * after the lamps had their settle time (lamp_alarms_switched()).
 */
void lamp_alarms_eval(struct lamp_alarms *la, size_t i, int64_t now_ms, double wanted, int write_failed,
		      int64_t polled_ms, int switching);

/**
 * A level was written to device @i and read back at @now_ms: if it
 * @changed the level, its lamps get their settle time (device_settle())
 * before lamp failure and day burner are judged again; if not, values
 * read after @now_ms count.
 */
void lamp_alarms_switched(struct lamp_alarms *la, size_t i, int64_t now_ms, int changed);

/** Print the alarms raised since @from_ms and the mean time to repair per kind. */
int lamp_alarms_print(FILE *f, struct sqlite3 *db, int64_t from_ms);

/** A reload moves gw->devices: follow them (see lighting_devices_moved()). */
void lamp_alarms_devices_moved(struct lamp_alarms *la, struct device *(*moved)(void *arg, const struct device *old),
			       void *arg);

#endif

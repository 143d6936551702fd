/* Operations around the running gateway: health (loop lag, watchdog,
 * status.json), the HTTP status page, and reload on SIGHUP. Loop thread. */
#ifndef WARDGW_OPS_H
#define WARDGW_OPS_H

struct gateway;

/** After the drivers started: health timers, status page, SIGHUP. 0 or negative errno. */
int gateway_ops_init(struct gateway *gw);
/** Before the store closes. */
void gateway_ops_release(struct gateway *gw);
/** Last: free the configs reloads made (the one given to gateway_init()
 *  stays the caller's). */
void gateway_ops_free_configs(struct gateway *gw);
/**
 * Re-read the config file with the same parser as `wardgw check`. Valid:
 * applied (devices added, removed, changed; unchanged ones keep running;
 * store and outbox untouched) and 0. Invalid: the running config stays,
 * the errors are logged with FILE:LINE and published as a config event,
 * and -EINVAL.
 */
int gateway_reload(struct gateway *gw);

#endif

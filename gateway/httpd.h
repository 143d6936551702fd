/* The local status page for technicians (libevent evhttp on the gateway's
 * loop): GET / (devices, KPIs, events, a chart as inline SVG), /metrics
 * (Prometheus text), /healthz, /status.json. Loopback by default; a token
 * (Bearer or ?token=) or basic auth when configured, required by the config
 * check when bound elsewhere. Loop thread. */
#ifndef WARDGW_HTTPD_H
#define WARDGW_HTTPD_H

struct gateway;
struct gw_config;
struct httpd;
struct httpguard;

/** Listen on gw->cfg->http_listen. 0 or negative errno (logged). */
int httpd_new(struct httpd **out, struct gateway *gw);
/** For a reload, in two steps: read @c's secrets and set up, without
 *  listening yet (a bad token file leaves the running page alone)... */
int httpd_prepare(struct httpd **out, struct gateway *gw, const struct gw_config *c);
/** ...then bind. 0 or negative errno (logged). */
int httpd_listen(struct httpd *h);
/** Whether @c's http.listen is the address @h serves on. */
int httpd_same_address(const struct httpd *h, const struct gw_config *c);
void httpd_free(struct httpd *h);
/** Its connection limits' counters (httpguard.h); NULL for NULL. */
const struct httpguard *httpd_guard(const struct httpd *h);

#endif

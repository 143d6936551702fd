/* The local status page for technicians (libevent evhttp on the gateway's
 * loop): GET / (devices, KPIs, events, a chart as inline SVG), /metrics
 * (Prometheus text), /healthz, /status.json. Loopback by default; a token
 * (Bearer or ?token=) or basic auth when configured, required by the config
 * check when bound elsewhere. Loop thread. */
#ifndef WARDGW_HTTPD_H
#define WARDGW_HTTPD_H

struct gateway;
struct httpd;

/** Listen on cfg->http_listen. 0 or negative errno (logged). */
int httpd_new(struct httpd **out, struct gateway *gw);
void httpd_free(struct httpd *h);

#endif

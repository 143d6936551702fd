/* The status page's settings: the http { } section, parsed by the http
 * service (http_service.c), read by the page server (httpd.c, page.c).
 * cfg->http is NULL without the section: then there is no page. A header
 * of its own, so that the page's modules need not include the service. */
#ifndef WARDGW_HTTPCONF_H
#define WARDGW_HTTPCONF_H

#include "config.h"

struct http_conf {
	char *listen;               /* "127.0.0.1:8088" */
	char *token_file;           /* bearer/?token= secret */
	char *user;                 /* basic auth user (password in password_file) */
	char *password_file;
	int chart_hours;
	int max_conns, max_per_peer, request_timeout_s;
	struct conf_origin at;      /* where http { } is, for errors at run time */
};

/** The hours of history the page's charts show (http.chart_hours; 24
 *  without an http section). */
static inline int http_chart_hours(const struct gw_config *cfg)
{
	return cfg->http ? cfg->http->chart_hours : 24;
}

#endif

/* The status page as a service (service.h): its http { } section
 * (loopback unless told otherwise, and then only behind a token or a user
 * and password), the device positions its map needs, and the page server
 * (httpd.c), set up again on every reload so that rotated secrets apply. */
#include "httpconf.h"
#include "service.h"
#include "i18n.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "httpd.h"
#include "httpparse.h"
#include "log.h"
#include "map.h"

#define OFF(field) offsetof(struct http_conf, field)

static const struct opt http_opts[] = {
	{ "listen", OPT_STRING, OFF(listen), 0, 0, 0, "127.0.0.1:8088", 0 },
	{ "token_file", OPT_STRING, OFF(token_file), 0, 0, 0, NULL, 0 },
	{ "user", OPT_STRING, OFF(user), 0, 0, 0, NULL, 0 },
	{ "password_file", OPT_STRING, OFF(password_file), 0, 0, 0, NULL, 0 },
	{ "chart_hours", OPT_INT, OFF(chart_hours), 1, 168, 24, NULL, 0 },
	/* connections open at once (all, one address) and a whole request's time */
	{ "max_connections", OPT_INT, OFF(max_conns), 1, 10000, 64, NULL, 0 },
	{ "max_connections_per_address", OPT_INT, OFF(max_per_peer), 1, 10000, 16, NULL, 0 },
	{ "request_timeout_s", OPT_INT, OFF(request_timeout_s), 1, 3600, 10, NULL, 0 },
	{ 0 }
};

static void conf_free(struct gw_config *cfg)
{
	if (!cfg->http)
		return;
	conf_free_section(http_opts, cfg->http);
	free(cfg->http);
	cfg->http = NULL;
}

/* Off without an http section. */
static void parse(struct conf_ctx *ctx, const struct config_setting_t *h, struct gw_config *cfg)
{
	struct http_conf *c;
	const struct config_setting_t *m;
	char host[64];
	const char *why;
	int port, loopback = 1;

	if (!h)
		return;
	if (!(c = calloc(1, sizeof(*c)))) {
		conf_error(ctx, &(struct conf_origin){ conf_path(ctx), 0 }, "out of memory");
		return;
	}
	cfg->http = c;
	conf_apply_section(ctx, h, "http", http_opts, NULL, c);
	if (!config_setting_is_group(h)) {
		conf_free(cfg);
		return;
	}
	c->at = conf_origin_of(ctx, h);
	m = config_setting_get_member(h, "listen");
	if (c->listen && http_parse_listen(c->listen, host, sizeof(host), &port, &loopback, &why) < 0)
		conf_serror(ctx, m ? m : h, _("%s (got '%s')"), why, c->listen);
	if (!!c->user != !!c->password_file)
		conf_serror(ctx, h, _("http: user and password_file go together (basic auth)"));
	if (!loopback && !c->token_file && !(c->user && c->password_file))
		conf_serror(ctx, m ? m : h, _("http listens on %s, which is not loopback: set token_file, or user and "
		       "password_file, so that only technicians see the page"), c->listen);
	if (c->user && (strlen(c->user) > 63 || strchr(c->user, ':')))
		conf_serror(ctx, config_setting_get_member(h, "user"), _("http user must be 1..63 characters without ':'"));
}

static int configured(const struct gw_config *cfg)
{
	return cfg->http != NULL;
}

/* The map on the page: where each device is, inside the ward's boundary. */
static void check(struct conf_ctx *ctx, const struct gw_config *cfg)
{
	map_check_positions(ctx, cfg);
}

static int start(struct gateway *gw)
{
	return gw->cfg->http ? httpd_new(&gw->httpd, gw) : 0;
}

static void stop(struct gateway *gw)
{
	httpd_free(gw->httpd);
	gw->httpd = NULL;
}

/* Set up again on every reload, so that a new token or password file
 * (rotated secrets) applies. The new one is prepared before the old one
 * goes; a page that cannot be prepared leaves the old running. */
static void reload(struct gateway *gw, const struct gw_config *n)
{
	struct httpd *nh = NULL;

	if (!n->http) {
		if (gw->httpd)
			log_info("http: status page off (no http section)");
		httpd_free(gw->httpd);
		gw->httpd = NULL;
		return;
	}
	if (httpd_prepare(&nh, gw, n) < 0) {
		log_err("reload: http: the status page keeps its old settings");
		return;
	}
	if (httpd_same_address(gw->httpd, n)) {
		/* the port must be free for the new listener */
		httpd_free(gw->httpd);
		gw->httpd = NULL;
	}
	if (httpd_listen(nh) < 0) {
		httpd_free(nh);
		if (gw->httpd)
			log_err("reload: http: the status page stays on its old address");
		else
			log_err("reload: http: no status page until the next reload");
		return;
	}
	httpd_free(gw->httpd);
	gw->httpd = nh;
}

const struct service_ops http_service = {
	.name = "http",
	.opts = http_opts,
	.parse = parse,
	.check = check,
	.conf_free = conf_free,
	.configured = configured,
	.phase = SERVICE_OPS,
	.start = start,
	.stop = stop,
	.reload = reload,
};

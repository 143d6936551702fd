/* The service table and the loops the core runs over it (service.h). The
 * table names each service by its extern only: this file includes no
 * service's header, so no service depends on another through it. */
#include "service.h"

#include <string.h>


/* Start order. The lighting schedule registers its derived series before
 * the rollups catch up; the health watch starts before the status page,
 * which reads it (stopped in reverse). The KPIs come last: their section
 * is parsed after the others (a coverage KPI reads the coverage section). */
const struct service_ops *const services[] = {
	&lighting_service,
	&coverage_service,
	&ingest_service,
	&environment_service,
	&health_service,
	&http_service,
	&kpi_service,
	NULL,
};

const struct service_ops *service_find(const char *name)
{
	for (const struct service_ops *const *s = services; *s; s++)
		if ((*s)->name && !strcmp((*s)->name, name))
			return *s;
	return NULL;
}

int services_start(struct gateway *gw, enum service_phase phase)
{
	int ret;

	for (const struct service_ops *const *s = services; *s; s++)
		if ((*s)->phase == phase && (*s)->start && (ret = (*s)->start(gw)) < 0)
			return ret;
	return 0;
}

void services_stop(struct gateway *gw)
{
	size_t n = 0;

	while (services[n])
		n++;
	while (n--)
		if (services[n]->stop)
			services[n]->stop(gw);
}

void services_device_online(struct gateway *gw, struct device *dev)
{
	for (const struct service_ops *const *s = services; *s; s++)
		if ((*s)->device_online)
			(*s)->device_online(gw, dev);
}

void services_polled(struct gateway *gw, struct device *dev, int64_t latency_us)
{
	for (const struct service_ops *const *s = services; *s; s++)
		if ((*s)->polled)
			(*s)->polled(gw, dev, latency_us);
}

void services_poll_done(struct gateway *gw, struct device *dev, int64_t ts_ms)
{
	for (const struct service_ops *const *s = services; *s; s++)
		if ((*s)->poll_done)
			(*s)->poll_done(gw, dev, ts_ms);
}

void services_tick(struct gateway *gw, int64_t now_ms)
{
	for (const struct service_ops *const *s = services; *s; s++)
		if ((*s)->tick)
			(*s)->tick(gw, now_ms);
}

const struct service_ops *services_commands(const struct gw_config *cfg)
{
	for (const struct service_ops *const *s = services; *s; s++)
		if ((*s)->command_topic && (*s)->command && (*s)->configured && (*s)->configured(cfg))
			return *s;
	return NULL;
}

void services_live(struct gateway *gw, const char *t, FILE *out)
{
	const char *line;

	for (const struct service_ops *const *s = services; *s; s++)
		if ((*s)->live && (line = (*s)->live(gw)))
			fprintf(out, "%s  %s\n", t, line);
}

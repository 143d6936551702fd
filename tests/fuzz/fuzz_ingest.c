/* libFuzzer target: the HTTP ingest body (JSON batch) against a config with
 * one push device, as the endpoint validates it. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "driver.h"
#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct reg_def regs[3];
	static struct profile prof = { .name = "wifi-ap", .regs = regs, .nregs = 3 };
	static struct device_conf dev = { .name = "ap-1", .driver = &push_driver, .profile = &prof };
	static struct ingest_conf ic = { .max_readings = 50 };
	static struct gw_config cfg = { .devices = &dev, .ndevices = 1, .ingest = &ic };
	struct ingest_batch b;
	json_t *errors = json_array();
	char *s = malloc(size ? size : 1);

	regs[0] = (struct reg_def){ .metric = "clients", .min = 0, .max = 10000 };
	regs[1] = (struct reg_def){ .metric = "apUp", .min = NAN, .max = NAN };
	regs[2] = (struct reg_def){ .metric = "signalMean", .min = NAN, .max = NAN };
	if (s && errors) {
		memcpy(s, data, size);
		if (ingest_parse(s, size, &cfg, 1796156640000LL, &b, errors) == 0)
			ingest_batch_release(&b);
	}
	json_decref(errors);
	free(s);
	return 0;
}

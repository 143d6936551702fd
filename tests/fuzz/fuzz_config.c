/* libFuzzer target: the config parser. The first byte picks whether the
 * input is gateway.conf (with a valid profile beside it) or a profile file
 * (with a valid gateway.conf pointing at it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static char dir[64];

static void put(const char *name, const void *data, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		abort();
	fwrite(data, 1, len, f);
	fclose(f);
}

static const char profile[] =
	"profile = { name = \"p\"; registers = (\n"
	"  { metric = \"v\"; table = \"input\"; address = 0; type = \"f32\"; unit = \"V\"; },\n"
	"  { metric = \"e\"; table = \"holding\"; address = 2; type = \"u32\"; order = \"CDAB\"; scale = 0.01; }\n"
	"); };\n";
static const char gateway[] =
	"gateway = { id = \"g\"; lat = 1.0; lon = 2.0; };\n"
	"devices = ( { name = \"d\"; count = 2; host = \"127.0.0.1\"; profile = \"p\"; } );\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char p[96];

	snprintf(dir, sizeof(dir), "/tmp/wardgw-fuzz.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(p, sizeof(p), "%s/profiles", dir);
	mkdir(p, 0700);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[128];
	struct gw_config *cfg = NULL;
	FILE *errs = fopen("/dev/null", "w");

	if (size < 1 || !errs) {
		if (errs)
			fclose(errs);
		return 0;
	}
	if (data[0] & 1) {
		put("gateway.conf", data + 1, size - 1);
		put("profiles/p.conf", profile, strlen(profile));
	} else {
		put("gateway.conf", gateway, strlen(gateway));
		put("profiles/p.conf", data + 1, size - 1);
	}
	snprintf(path, sizeof(path), "%s/gateway.conf", dir);
	if (config_load(path, errs, &cfg) == 0)
		config_free(cfg);
	fclose(errs);
	return 0;
}

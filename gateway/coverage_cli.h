/* The coverage subcommands: `wardgw import-survey` and `wardgw coverage`. */
#ifndef WARDGW_COVERAGE_CLI_H
#define WARDGW_COVERAGE_CLI_H

/** wardgw import-survey -c FILE SURVEY.csv...  (argv[0] is "import-survey"). Exit status. */
int coverage_cmd_import(int argc, char **argv);
/** wardgw coverage -c FILE [--geojson OUT] [--at T]. Exit status. */
int coverage_cmd_coverage(int argc, char **argv);

#endif

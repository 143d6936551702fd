/* The version wardgw reports in its status message and --version. */
#ifndef WARDGW_VERSION_H
#define WARDGW_VERSION_H
#define WARDGW_VERSION "0.1.0"
#endif

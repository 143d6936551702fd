/* Simulator: a Quectel-like cellular modem on a pseudo-terminal. */
#ifndef WARDGW_SIM_MODEM_H
#define WARDGW_SIM_MODEM_H

/** wardgw-sim modem --link PATH [...]; argv[0] is "modem". Exit status. */
int sim_modem_main(int argc, char **argv);

#endif

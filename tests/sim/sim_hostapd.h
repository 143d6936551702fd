/* Simulator: hostapd-style control sockets with clients joining and leaving. */
#ifndef WARDGW_SIM_HOSTAPD_H
#define WARDGW_SIM_HOSTAPD_H

/** wardgw-sim hostapd --dir DIR [...]; argv[0] is "hostapd". Exit status. */
int sim_hostapd_main(int argc, char **argv);

#endif

/* Simulator: survey file generator with a known dead zone. */
#ifndef WARDGW_SIM_SURVEY_H
#define WARDGW_SIM_SURVEY_H

/** wardgw-sim survey --out FILE [--boundary FILE] ...; argv[0] is "survey". Exit status. */
int sim_survey_main(int argc, char **argv);

/** The generator's dead zone: cell (@ix, @iy) of the default ward, row 0 south. */
int sim_survey_dead(int ix, int iy);

#endif

/* tools/tools.h - entry points of the `gridns` operator commands.
 *
 * Each takes the arguments after the command name (argv[0] is the command)
 * and returns the process exit status, documented in docs/tools.md.
 */
#pragma once

int tq_main(int argc, char **argv);   /* gridns query */
int tchk_main(int argc, char **argv); /* gridns check */
int tbl_main(int argc, char **argv);  /* gridns blcheck */
int tlat_main(int argc, char **argv); /* gridns latency */
int tinsp_main(int argc, char **argv); /* gridns inspect */

/* maptest: `teamboardctl map-test`, what a foreign payload becomes under a
 * [mapping] (docs/mapping.md), without a running daemon. */
#pragma once

/* Runs "map-test FILE [--mapping NAME | --preset NAME|PATH] [--topic T]"
 * (args after the verb). `config` is the -c file ("" or NULL: the
 * default). Prints the SPEC events that the daemon would accept (JSON) on
 * stdout and each rejection with its reason on stderr. Returns 0 if every
 * item became an accepted event, 1 if any was rejected, 64 for a usage or
 * configuration error. */
int maptest_main(const char *config, int argc, char **argv);

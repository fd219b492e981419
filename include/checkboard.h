/* checkboard: `teamboardd --check-board`, a gpioinfo-like table of where
 * each role of a board profile resolved (chip, offset, name) and whether
 * its line is free or used, and by whom. Requests no line, so it is safe to
 * run beside a running daemon. */
#pragma once

#include <stdio.h>

#include "board.h"
#include "gpio.h"

/* Prints the table for profile `p` through `ops` to `out`. Returns the
 * exit status: 0 when every role resolved to a distinct line that is free
 * or held by teamboard itself, 1 otherwise (chip or line missing, line
 * held by another consumer, two roles on one line, backend cannot tell). */
int check_board(const struct gpio_ops *ops, const struct board_profile *p, FILE *out);

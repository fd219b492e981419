/* gpio: the board's lines behind one small interface with two backends,
 * chosen by config (gpio.backend): `libgpiod` and `sim` (gpio_sim.c, an
 * in-process chip driven through the control socket). `libgpiod` is
 * gpio_gpiod.c (v1 API) or gpio_gpiod2.c (v2 API): the Makefile builds the
 * one matching the installed libgpiod, and only it includes <gpiod.h>.
 * Callers never know which. Values are logical: active-low is applied by
 * the backend. Outputs are requested driven off (safe state).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "signals.h"

struct gpio;

/* Called for each button edge; `pressed` is the logical level read when the
 * edge was handled, `at_usec` its monotonic time. */
typedef void (*gpio_edge_fn)(void *userdata, unsigned button, bool pressed, uint64_t at_usec);

/* Where one role of a profile resolved, as the kernel sees it now (like a
 * line of `gpioinfo`). Filled by gpio_describe(). */
struct gpio_line_info {
	char role[48];                 /* "lamp.red", "button.ack1" */
	const struct board_line *want; /* the profile's line (borrowed) */
	int err;                       /* 0, or -ENOENT line not found, -errno */
	char chip[32];                 /* "gpiochip0" */
	char chip_label[BOARD_NAME_MAX];
	unsigned offset;
	char name[BOARD_NAME_MAX]; /* the kernel's name for the line, "" if none */
	bool used;                 /* requested by someone (or the kernel) */
	char consumer[64];         /* who holds it, "" if unknown */
	bool is_output;            /* its current direction, active-low, bias */
	bool active_low;
	enum bias bias;
};

struct gpio_ops {
	const char *name;
	/* true: open() asks the kernel to debounce each button for its
	 * profile debounce_usec (libgpiod v2), so callers must not debounce
	 * its edges again; false: edges are raw (libgpiod v1, sim) */
	bool kernel_debounce;
	/* requests the lines, sets g->priv; on failure releases everything
	 * it took and fills `why` */
	int (*open)(struct gpio *g, const struct board_profile *p, char *why, size_t why_size);
	void (*close)(struct gpio *g);
	int (*set)(struct gpio *g, enum output o, bool on);
	int (*get_button)(struct gpio *g, unsigned button, bool *pressed);
	/* fds to poll for button edges (may be none) */
	size_t (*fds)(struct gpio *g, int *fds, size_t max);
	/* reads pending edges on `fd`, calls the edge callback */
	int (*dispatch)(struct gpio *g, int fd);
	/* Optional (NULL: the backend cannot tell). Resolves each info[i]'s
	 * role to its chip and line WITHOUT requesting it and fills the
	 * rest of info[i] (or info[i].err). Returns 0, or -errno with `why`
	 * when the chip itself cannot be opened. For --check-board. */
	int (*describe)(const struct board_profile *p, struct gpio_line_info *info, size_t n,
			char *why, size_t why_size);
};

extern const struct gpio_ops gpio_gpiod_ops;
extern const struct gpio_ops gpio_sim_ops;

/* The ops for a backend name ("libgpiod", "sim"); NULL if unknown. */
const struct gpio_ops *gpio_backend(const char *name);

/* Opens the lines of profile `p` with `ops`; all outputs start off. On
 * failure returns NULL with a reason naming the role, chip and line. */
struct gpio *gpio_new(const struct gpio_ops *ops, const struct board_profile *p,
		      gpio_edge_fn on_edge, void *userdata, char *why, size_t why_size);
/* Drives every output off, then releases the lines. NULL-safe. */
void gpio_free(struct gpio *g);

/* Sets an output if the profile has it (no-op otherwise); only calls the
 * backend when the value changes. */
int gpio_set(struct gpio *g, enum output o, bool on);
bool gpio_get_output(const struct gpio *g, enum output o);
bool gpio_has_output(const struct gpio *g, enum output o);
int gpio_all_off(struct gpio *g);
size_t gpio_fds(struct gpio *g, int *fds, size_t max);
int gpio_dispatch(struct gpio *g, int fd);
unsigned gpio_errors(const struct gpio *g); /* failed sets so far */
const struct board_profile *gpio_profile(const struct gpio *g);

/* Lists the roles of `p` (outputs, then buttons) into info[] and asks the
 * backend where each resolves, requesting nothing. Returns the number of
 * roles, -EOPNOTSUPP if the backend has no describe op, or -errno with
 * `why` when the chip cannot be opened. */
int gpio_describe(const struct gpio_ops *ops, const struct board_profile *p,
		  struct gpio_line_info *info, size_t max, char *why, size_t why_size);

/* --- Shared between gpio.c and the backends only. --- */

/* The profile's section name of an output: "lamp.red", ..., "buzzer". */
const char *gpio_role_name(enum output o);
/* Formats a failure reason into why (NULL-safe), for ops->open. */
void gpio_why(char *why, size_t why_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* " (is the user in the 'gpio' group?)" for EACCES/EPERM, else "". */
const char *gpio_access_hint(int err);

struct gpio {
	const struct gpio_ops *ops;
	struct board_profile profile;
	gpio_edge_fn on_edge;
	void *userdata;
	bool out[OUTPUT_COUNT];
	unsigned errors;
	void *priv; /* backend state */
};

/* --- The sim backend (SPEC §10). Other backends return -EOPNOTSUPP. --- */

#define GPIO_SIM_HISTORY 64

struct gpio_sim_transition {
	uint64_t at_usec;
	bool value;
};

/* Presses (pressed = true) or releases a simulated button now; the edge
 * goes through the same callback as a real one. */
int gpio_sim_set_button(struct gpio *g, unsigned button, bool pressed, uint64_t at_usec);
/* Recent transitions of an output line, oldest first; returns the count. */
size_t gpio_sim_history(const struct gpio *g, enum output o, struct gpio_sim_transition *out,
			size_t max);
bool gpio_is_sim(const struct gpio *g);

/* gpio_sim.c's side of the two wrappers above; gpio.c calls them only for a
 * gpio opened by the sim backend. Not for other callers. */
int gpio_sim_backend_set_button(struct gpio *g, unsigned button, bool pressed, uint64_t at_usec);
size_t gpio_sim_backend_history(const struct gpio *g, enum output o,
				struct gpio_sim_transition *out, size_t max);

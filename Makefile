# teamboard — one non-recursive GNU Makefile.
#
#   make                build build/teamboardd and build/teamboardctl
#   make check          install missing packages, run unit + integration tests
#   make demo           install missing packages, start the simulated board demo
#   make asan           the whole test suite under ASan/UBSan (build/asan/)
#   make valgrind       the whole test suite under valgrind (memcheck, fds)
#   make fuzz           build and briefly run the libFuzzer targets
#   make bench          benchmarks, figures into docs/performance.md (bench-smoke: CI)
#   make lint / format  cppcheck + clang-tidy / clang-format
#   make install        PREFIX=/usr/local DESTDIR= (see README)
#   V=1                 show full command lines; WERROR=1 turns warnings into errors

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share/teamboard
SYSCONFDIR ?= /etc
DOCDIR ?= $(PREFIX)/share/doc/teamboard
SYSTEMDUNITDIR ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
UDEVRULESDIR ?= /lib/udev/rules.d
TMPFILESDIR ?= /usr/lib/tmpfiles.d
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

B ?= build
CC ?= cc
PKG_CONFIG ?= pkg-config
PYTHON ?= /usr/bin/python3

VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)

LIBS_PKG := libmosquitto libcjson libgpiod sqlite3 inih libssl libcrypto libmicrohttpd
WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wwrite-strings \
	-Wvla -Wimplicit-fallthrough
ifeq ($(WERROR),1)
WARN += -Werror
endif

OPT ?= -O2 -g
SAN ?=
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(LIBS_PKG) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(LIBS_PKG) 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)
# <math.h> (floor() in cmd.c) is an instruction on amd64 and arm64 but a libm
# call on armhf: link libm ourselves, not through another library.
PKG_LIBS += -lm

CPPFLAGS += -Iinclude -D_GNU_SOURCE -DTEAMBOARD_VERSION='"$(VERSION)"' \
	-DTEAMBOARD_BOARD_DIR='"$(DATADIR)/board"' -DTEAMBOARD_MAPPING_DIR='"$(DATADIR)/mappings"'
# 32-bit targets (armhf: 32-bit Raspberry Pi OS) get a 64-bit time_t and
# file offsets, so wall time and timers survive 2038 (glibc >= 2.34).
TIME32 := $(shell printf '\043include <time.h>\nint x[sizeof(time_t) == 8 ? 1 : -1];\n' | \
	$(CC) -x c -fsyntax-only - >/dev/null 2>&1 || echo 1)
ifeq ($(TIME32),1)
CPPFLAGS += -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64
endif
CFLAGS += -std=c17 $(OPT) $(WARN) $(SAN) $(PKG_CFLAGS) -MMD -MP
LDFLAGS += $(SAN)

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' $(1) $(2);
endif

# Every module in src/ except the two programs goes into one static library
# that the daemon, the CLI, the unit tests and the fuzzers link against.
PROGRAM_SRCS := src/main.c src/teamboardctl.c
# libgpiod changed its API in 2.0 (Debian 13 / Pi OS trixie; 1.6 on
# bookworm): exactly one backend is built, the one for the installed library.
GPIOD_API := $(shell $(PKG_CONFIG) --atleast-version=2 libgpiod 2>/dev/null && echo 2 || echo 1)
GPIOD_UNUSED := $(if $(filter 2,$(GPIOD_API)),src/gpio_gpiod.c,src/gpio_gpiod2.c)
LIB_SRCS := $(filter-out $(PROGRAM_SRCS) $(GPIOD_UNUSED),$(wildcard src/*.c))
LIB_OBJS := $(LIB_SRCS:src/%.c=$(B)/obj/%.o) $(B)/obj/web_assets.o
# The wall display's files (web/) are compiled in: no CDN, no files to install.
WEB_FILES := $(sort $(wildcard web/*))
LIB := $(B)/libteamboard.a

# test_gpio_gpiod2 links a fake libgpiod v2: only for the v2 build.
UNIT_SRCS := $(filter-out $(if $(filter 2,$(GPIOD_API)),,tests/unit/test_gpio_gpiod2.c),\
	$(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

all: $(B)/teamboardd $(B)/teamboardctl

# Objects depend on the flags they were built with (PREFIX ends up in the
# binary as the board-profile folder), so `make install PREFIX=/usr` after a
# plain `make` rebuilds instead of installing stale paths.
FLAGS_STAMP := $(B)/.flags
FLAGS_NOW := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(B)
	@echo '$(FLAGS_NOW)' | cmp -s - $@ || echo '$(FLAGS_NOW)' > $@

$(B)/obj/%.o: src/%.c $(FLAGS_STAMP)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/obj/tests/%.o: tests/unit/%.c $(FLAGS_STAMP)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(B)/gen/web_assets.c: $(WEB_FILES) tools/embed-web
	$(call msg,EMBED,$@)
	@mkdir -p $(dir $@)
	$(Q)tools/embed-web $@ $(WEB_FILES)

$(B)/obj/web_assets.o: $(B)/gen/web_assets.c $(FLAGS_STAMP)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(B)/teamboardd: $(B)/obj/main.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/teamboardctl: $(B)/obj/teamboardctl.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/tests/%: $(B)/obj/tests/%.o $(LIB)
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)

tests: $(UNIT_BINS)

# --- dependencies -----------------------------------------------------------
# tools/deps installs the Debian packages that are missing (sudo when not
# root); DEPS=0 skips it on machines that manage packages otherwise.
DEPS ?= 1
deps:
ifeq ($(DEPS),1)
	@tools/deps $(DEPS_SET)
endif

# --- tests ------------------------------------------------------------------
check: DEPS_SET = build test
check: deps
	$(MAKE) --no-print-directory all tests
	$(MAKE) --no-print-directory check-unit check-systemd check-integration

check-unit: $(UNIT_BINS)
	@tools/run-unit $(UNIT_BINS)

# The integration tests mostly wait on timers, so classes run side by side
# (TEST_JOBS at once, default: the CPU count, at least 2); the longest start
# first, by the times of the previous run.
TEST_JOBS ?=
RUN_INTEGRATION = TEAMBOARD_BUILD=$(abspath $(B)) $(PYTHON) tools/run-integration \
	$(if $(TEST_JOBS),-j $(TEST_JOBS)) --times $(B)/integration-times.json $(if $(TESTS),-k $(TESTS))

check-integration: all
	$(Q)$(RUN_INTEGRATION)

# The unit file as installed, checked by systemd itself.
check-systemd: all
	@mkdir -p $(B)/systemd
	$(Q)sed 's|@SBINDIR@|$(abspath $(B))|g; s|@DOCDIR@|$(abspath .)|g' systemd/teamboard.service > $(B)/systemd/teamboard.service
	$(Q)if command -v systemd-analyze >/dev/null; then \
		systemd-analyze verify --man=no $(B)/systemd/teamboard.service && echo "systemd: teamboard.service verified"; \
	else echo "systemd-analyze not found: unit not verified"; fi

# libFuzzer targets, one per parser (fuzz_cmd drives the whole dispatcher of a
# real daemon, so it links every module); each runs FUZZ_SECONDS on a scratch
# copy of its committed seed corpus (tests/fuzz/corpus/<name>/).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_DEFS := -std=c17 -g -O1 -D_GNU_SOURCE -Iinclude -DTEAMBOARD_VERSION='"fuzz"' \
	-DTEAMBOARD_BOARD_DIR='"board"' -DTEAMBOARD_MAPPING_DIR='"mappings"' $(PKG_CFLAGS)
FUZZ_CFLAGS := $(FUZZ_DEFS) -fsanitize=fuzzer,address,undefined
# The library is compiled once for every target (instrumented, not linked
# with libFuzzer's main); each target takes from it what it uses.
FUZZ_OBJS := $(patsubst src/%.c,$(B)/fuzz/obj/%.o,$(LIB_SRCS)) $(B)/fuzz/obj/web_assets.o
FUZZ_BINS := $(addprefix $(B)/fuzz/,$(FUZZ_TARGETS))

$(B)/fuzz/obj/%.o: src/%.c
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)clang $(FUZZ_DEFS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c -o $@ $<

$(B)/fuzz/obj/web_assets.o: $(B)/gen/web_assets.c
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)clang $(FUZZ_DEFS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(B)/fuzz/libfuzz.a: $(FUZZ_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_BINS): $(B)/fuzz/%: tests/fuzz/fuzz_%.c $(B)/fuzz/libfuzz.a
	$(call msg,LD,$@)
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $< $(B)/fuzz/libfuzz.a $(PKG_LIBS)

fuzz: DEPS_SET = build fuzz
fuzz: deps
	$(MAKE) --no-print-directory -j $(LINT_JOBS) $(FUZZ_BINS)
	$(Q)for t in $(FUZZ_TARGETS); do \
		echo "  FUZZ     $$t ($(FUZZ_SECONDS) s)"; \
		rm -rf $(B)/fuzz/corpus-$$t && mkdir -p $(B)/fuzz/corpus-$$t && \
		cp tests/fuzz/corpus/$$t/* $(B)/fuzz/corpus-$$t/ && \
		$(B)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=1024 \
			-print_final_stats=1 $(B)/fuzz/corpus-$$t > $(B)/fuzz/$$t.log 2>&1 || \
			{ tail -50 $(B)/fuzz/$$t.log; exit 1; }; \
		grep -E 'stat::number_of_executed_(runs|units)' $(B)/fuzz/$$t.log; \
	done

asan:
	$(MAKE) --no-print-directory B=build/asan OPT='-O1 -g -fno-omit-frame-pointer' \
		SAN='-fsanitize=address,undefined -fno-sanitize-recover=all' check

valgrind: DEPS_SET = build test valgrind
valgrind: deps all tests
	$(Q)TEAMBOARD_WRAP='valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-fds=yes' \
		tools/run-unit $(UNIT_BINS)
	$(Q)TEAMBOARD_WRAP='valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-fds=yes' \
		$(RUN_INTEGRATION)

# --- benchmarks -------------------------------------------------------------
# bench/run drives the real teamboardd over a real mosquitto on loopback with
# bench/loadgen (C) and bench/deadline (alert engine); results go to
# $(B)/bench/, the table and plot to docs/ (docs/performance.md). bench-smoke
# runs every scenario for a few seconds and checks numbers and no loss only.
BENCH_BINS := $(B)/bench/loadgen $(B)/bench/deadline

$(B)/bench/loadgen: bench/loadgen.c $(FLAGS_STAMP)
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) $(PKG_LIBS)

$(B)/bench/deadline: bench/deadline.c $(LIB) $(FLAGS_STAMP)
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(PKG_LIBS)

bench: DEPS_SET = build test bench
bench: deps
	$(MAKE) --no-print-directory all $(BENCH_BINS)
	$(Q)$(PYTHON) bench/run --build $(B) --doc docs

# the naive baseline needs jq and mosquitto_sub (the bench set)
bench-smoke: DEPS_SET = build test bench
bench-smoke: deps
	$(MAKE) --no-print-directory all $(BENCH_BINS)
	$(Q)$(PYTHON) bench/run --build $(B) --smoke

# --- demo -------------------------------------------------------------------
demo: DEPS_SET = build demo
demo: deps
	$(MAKE) --no-print-directory all
	@tools/demo $(abspath $(B))

# --- install ----------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/board \
		$(DESTDIR)$(DATADIR)/mappings \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/teamboard $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(UDEVRULESDIR)
	install -m 0755 $(B)/teamboardd $(DESTDIR)$(SBINDIR)/teamboardd
	install -m 0755 $(B)/teamboardctl $(DESTDIR)$(BINDIR)/teamboardctl
	install -m 0644 board/*.conf $(DESTDIR)$(DATADIR)/board/
	install -m 0644 mappings/*.conf $(DESTDIR)$(DATADIR)/mappings/
	install -m 0644 teamboard.conf.example $(DESTDIR)$(DATADIR)/teamboard.conf.example
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	cp -r docs $(DESTDIR)$(DOCDIR)/
	test -e $(DESTDIR)$(SYSCONFDIR)/teamboard/teamboard.conf || \
		install -m 0640 teamboard.conf.example $(DESTDIR)$(SYSCONFDIR)/teamboard/teamboard.conf
	sed 's|@SBINDIR@|$(SBINDIR)|g; s|@DOCDIR@|$(DOCDIR)|g' systemd/teamboard.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/teamboard.service
	install -m 0644 systemd/teamboard.sysusers $(DESTDIR)$(SYSUSERSDIR)/teamboard.conf
	install -m 0644 systemd/60-teamboard-gpio.rules $(DESTDIR)$(UDEVRULESDIR)/60-teamboard-gpio.rules
	install -m 0644 systemd/teamboard-kiosk.service $(DESTDIR)$(SYSTEMDUNITDIR)/teamboard-kiosk.service
	install -d $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8
	install -m 0644 systemd/teamboard.tmpfiles $(DESTDIR)$(TMPFILESDIR)/teamboard.conf
	install -m 0644 man/teamboardctl.1 $(DESTDIR)$(MANDIR)/man1/teamboardctl.1
	install -m 0644 $(B)/man/teamboard.conf.5 $(DESTDIR)$(MANDIR)/man5/teamboard.conf.5
	install -m 0644 man/teamboardd.8 $(DESTDIR)$(MANDIR)/man8/teamboardd.8
	install -m 0644 board/README.md $(DESTDIR)$(DOCDIR)/board-README.md
	install -m 0644 board/wiring.svg $(DESTDIR)$(DOCDIR)/wiring.svg

# A Debian package of the same tree (PREFIX=/usr), built with dpkg-deb from a
# staging folder; dependencies from dpkg-shlibdeps (docs/packaging.md).
deb: all
	rm -rf $(B)/deb/root
	$(MAKE) --no-print-directory install B=$(B) PREFIX=/usr DESTDIR=$(abspath $(B))/deb/root
	$(Q)tools/mkdeb $(B)/deb/root $(B)

# Installs that package with apt into a clean Debian 12 root (debootstrap,
# cached in .cache/debroot/) and runs the installed daemon's checks there.
check-deb: DEPS_SET = build deb
check-deb: deps deb
	$(Q)tests/deb/run $(B)

# teamboard.conf(5) lists the keys of teamboard.conf.example, generated so it
# never falls behind; the rest of the page is man/teamboard.conf.5.in.
$(B)/man/teamboard.conf.5: man/teamboard.conf.5.in teamboard.conf.example tools/man-conf
	$(call msg,MAN,$@)
	@mkdir -p $(dir $@)
	$(Q)tools/man-conf man/teamboard.conf.5.in teamboard.conf.example > $@.tmp && mv $@.tmp $@

install: $(B)/man/teamboard.conf.5

# Every man page renders without a warning.
check-man: $(B)/man/teamboard.conf.5
	$(Q)for m in man/*.[158] $(B)/man/teamboard.conf.5; do \
		w=$$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l $$m 2>&1 >/dev/null); \
		if [ -n "$$w" ]; then echo "$$m: $$w"; exit 1; fi; \
	done; echo "man: every page renders without warnings"

# systemd's own review of the unit's sandbox: "OK" (exposure < 5.0) or better,
# the score is in docs/packaging.md.
check-security: check-systemd
	$(Q)systemd-analyze security --offline=true --threshold=49 $(B)/systemd/teamboard.service \
		| tail -1

.PHONY: deb check-deb check-man check-security

# --- real kernel GPIO -------------------------------------------------------
# The libgpiod backend against the kernel's gpio-sim in a qemu VM: Debian's
# bookworm kernel, gpio-sim built from its sources, every shipped Pi profile.
# Downloads ~230 MB once into .cache/hw/ (docs/hardware-tests.md).
check-hw: DEPS_SET = build test hw
check-hw: deps
	$(MAKE) --no-print-directory all
	$(Q)TEAMBOARD_BUILD=$(abspath $(B)) tests/hw/run

# The same VM test for the libgpiod v2 backend: the daemon built in the
# Debian 13 root of check-trixie, with that root's libraries. Two profiles
# (rpi4 with the busy/missing-line and active-low checks, rpi5 on a chip
# numbered 4) cover what the backend does differently; HW_PROFILES= picks
# others.
TRIXIE_ROOT := $(abspath .cache/trixie-root)
check-hw-trixie: DEPS_SET = build test hw root
check-hw-trixie: deps
	$(Q)tools/check-in-root trixie all
	$(Q)TEAMBOARD_BUILD=$(TRIXIE_ROOT)/var/tmp/teamboard-build HW_SYSROOT=$(TRIXIE_ROOT) \
		HW_PROFILES="$${HW_PROFILES:-rpi4+extra rpi5@gpiochip4}" tests/hw/run

.PHONY: check-hw check-hw-trixie

# --- other platforms (docs/platforms.md) ------------------------------------
# The libgpiod v2 build (Debian 13 / Pi OS trixie) and the whole suite in a
# debootstrap root cached in .cache/trixie-root (needs root).
check-trixie: DEPS_SET = root
check-trixie: deps
	$(Q)tools/check-in-root trixie

# Cross builds for Raspberry Pi OS from Debian packages (sysroots cached in
# .cache/cross-*); the unit tests run under qemu-user.
cross-arm64 cross-armhf: DEPS_SET = cross
cross-arm64 cross-armhf: deps
	$(Q)tools/cross $(@:cross-%=%)

.PHONY: check-trixie cross-arm64 cross-armhf

# --- code quality -----------------------------------------------------------
format:
	clang-format -i src/*.c include/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c

# The clang static analyzer takes minutes per run: files go to one
# clang-tidy per CPU (LINT_JOBS), a few at a time; any finding fails.
LINT_JOBS ?= $(shell nproc)
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr -Iinclude --suppress=missingIncludeSystem src
	printf '%s\n' $(filter-out $(GPIOD_UNUSED),$(wildcard src/*.c)) | \
		xargs -P $(LINT_JOBS) -n 3 sh -c 'clang-tidy --quiet "$$@" -- $(subst ','"'"',$(CPPFLAGS) -std=c17 $(PKG_CFLAGS))' clang-tidy

clean:
	rm -rf build

# Keep test objects between runs (they are intermediates of the test binaries).
.SECONDARY:

FORCE:

.PHONY: FORCE all tests deps check check-unit check-integration check-systemd fuzz asan valgrind demo install format lint clean bench bench-smoke

-include $(shell find $(B) -name '*.d' -type f 2>/dev/null)

# mbxfix and dvsim. 'make' builds both, 'make test' runs every test,
# 'make asan' runs them under AddressSanitizer + UBSan, 'make demo' runs
# a real job against a generated organisation, 'make install' installs
# under PREFIX (and DESTDIR), 'make packaging' tests the Debian package,
# the systemd units and the installed pages. Missing Debian packages are
# installed first when run as root (AUTO_INSTALL=0: only checked).

CC      ?= cc
CSTD     = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN     = -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wvla -Wwrite-strings \
           -Wpointer-arith -Wno-missing-field-initializers
ifdef DEVELOPER
WARN    += -Werror
endif
PKGS     = libcurl openssl libconfig libcjson libmicrohttpd
CFLAGS  ?= -O2 -g
LDFLAGS ?=
BUILD   ?= build
BIN     ?= .

# Installation directories (GNU names); DESTDIR prefixes them all.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR  ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
DOCDIR  ?= $(DATADIR)/doc/mbxfix
# systemd reads units from /usr/local/lib/systemd/system as well
UNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL ?= install

# What building needs (a C compiler and the C library's headers first:
# a fresh Debian has neither), then the libraries and what the tests use.
BUILD_PACKAGES = gcc libc6-dev libcurl4-openssl-dev libcjson-dev \
           libcsv-dev libssl-dev libconfig-dev libmicrohttpd-dev pkg-config
TEST_PACKAGES = libcmocka-dev openssl curl jq nghttp2-proxy
PACKAGES = $(BUILD_PACKAGES) $(TEST_PACKAGES)
# 'make packaging' only: building the .deb, verifying units, reading pages.
PACKAGING_PACKAGES = debhelper dpkg-dev fakeroot man-db systemd
AUTO_INSTALL ?= 1

# missing-packages LIST: the packages of LIST dpkg does not have installed.
missing-packages = $(shell for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done)
# apt-install LIST: install LIST as root, or stop naming what is missing.
define apt-install
$(if $(strip $(1)),$(if $(filter 1,$(AUTO_INSTALL)),$(info mbxfix: installing missing packages: $(strip $(1)))$(if $(filter 0,$(shell if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1)) >&2 && echo 0; else echo 1; fi)),,$(error mbxfix: cannot install the missing packages: $(strip $(1)); run 'make' as root or install them with: apt-get install $(strip $(1)))),$(error mbxfix: missing packages: $(strip $(1)); install them with: apt-get install $(strip $(1)))))
endef

# Install what is missing before anything asks pkg-config or the compiler.
ifeq ($(filter clean distclean uninstall,$(MAKECMDGOALS)),)
$(call apt-install,$(call missing-packages,$(PACKAGES)))
ifneq ($(filter packaging,$(MAKECMDGOALS)),)
$(call apt-install,$(call missing-packages,$(PACKAGING_PACKAGES)))
endif
endif

ALL_CFLAGS = $(CSTD) $(CPPFLAGS) $(WARN) $(CFLAGS) -DMBXFIX_DATADIR='"$(PREFIX)/share/mbxfix"' -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -MMD -MP
LIBS       = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcsv -lpthread -lm
CMOCKA     = $(shell pkg-config --libs cmocka 2>/dev/null)

BASE_SRC   := src/buf.c src/err.c src/log.c src/wrapper.c
LIB_SRC    := $(filter-out src/main.c src/cmd_%.c,$(wildcard src/*.c))
CMD_SRC    := src/main.c $(wildcard src/cmd_*.c)
DV_SRC     := $(wildcard src/dvsim/*.c)
DV_LIB_SRC := $(filter-out src/dvsim/main.c,$(DV_SRC))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIBMBXFIX  := $(BUILD)/libmbxfix.a
LIBDVSIM   := $(BUILD)/libdvsim.a
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all test unit e2e variants interop asan demo bench fuzz clean distclean style cppcheck \
	install uninstall packaging

all: $(BIN)/mbxfix $(BIN)/dvsim

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBMBXFIX): $(call obj,$(LIB_SRC)) $(BUILD)/gen/privs_builtin.o
	@rm -f $@
	ar rcs $@ $^

# The default privilege template, compiled in as a C string (privs.h):
# each line of the file becomes a line of the literal, '\' and '"' escaped.
$(BUILD)/gen/privs_builtin.c: templates/privileges/server-side-sync.cfg
	@mkdir -p $(dir $@)
	awk 'BEGIN { print "/* generated from $< by the Makefile */"; \
		print "const char privs_builtin_server_side_sync[] ="; } \
		{ gsub(/\\/, "\\\\\\\\"); gsub(/"/, "\\\""); \
		  print "\t\"" $$0 "\\n\""; } \
		END { print "\t\"\";" }' $< >$@.tmp && mv $@.tmp $@

$(BUILD)/gen/privs_builtin.o: $(BUILD)/gen/privs_builtin.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# dvsim shares only buf, err, log and the allocation wrappers with the
# client; its $batch, JSON and JWT handling are its own.
$(LIBDVSIM): $(call obj,$(DV_LIB_SRC) $(BASE_SRC))
	@rm -f $@
	ar rcs $@ $^

$(BIN)/mbxfix: $(call obj,$(CMD_SRC)) $(LIBMBXFIX)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# mbxfix-test: mbxfix with the test hooks of src/testhook.h (the moments
# the end-to-end tests kill it at); only the files holding hooks differ.
HOOK_SRC := src/journal.c src/results.c
$(BUILD)/hooks/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DMBXFIX_TEST_HOOKS -c -o $@ $<

$(BIN)/mbxfix-test: $(call obj,$(CMD_SRC)) $(patsubst %.c,$(BUILD)/hooks/%.o,$(HOOK_SRC)) $(LIBMBXFIX)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BIN)/dvsim: $(call obj,src/dvsim/main.c) $(LIBDVSIM)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# tests/unit/test_dv_*.c test dvsim's modules; the others test mbxfix's.
$(BUILD)/tests/test_dv_%: tests/unit/test_dv_%.c $(LIBDVSIM)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.a,$^) $(CMOCKA) $(LIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIBMBXFIX)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.a,$^) $(CMOCKA) $(LIBS)

# test_opts also tests 'mbxfix check', whose cmd_check.c is not in the library.
$(BUILD)/tests/test_opts: tests/unit/test_opts.c $(BUILD)/src/cmd_check.o $(LIBMBXFIX)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(CMOCKA) $(LIBS)

unit: $(UNIT_BINS)
	@sh tests/run-unit.sh $(UNIT_BINS)

e2e: all $(BIN)/mbxfix-test
	@MBXFIX=$(abspath $(BIN)/mbxfix) DVSIM=$(abspath $(BIN)/dvsim) sh tests/run-e2e.sh

# the end-to-end action scripts again under each dvsim --variant
variants: all
	@MBXFIX=$(abspath $(BIN)/mbxfix) DVSIM=$(abspath $(BIN)/dvsim) sh tests/run-variants.sh

test: all unit e2e variants

# LibreOffice, Chromium and csv-spectrum against mbxfix's CSV and report
# (installs them when missing; minutes, not part of 'make test')
interop: all
	@MBXFIX=$(abspath $(BIN)/mbxfix) DVSIM=$(abspath $(BIN)/dvsim) sh tests/interop/run-interop.sh

SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
asan:
	$(MAKE) BUILD=build/asan BIN=build/asan CFLAGS="-O1 -g $(SAN)" LDFLAGS="$(SAN)" test

# libFuzzer targets (clang) for dvsim's parsers: tests/fuzz/fuzz_*.c
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
FUZZ_FLAGS = -fsanitize=fuzzer,address,undefined -g -O1
fuzz: $(FUZZ_BINS)
build/fuzz/%: tests/fuzz/%.c $(DV_LIB_SRC) $(BASE_SRC)
	@command -v clang >/dev/null || apt-get install -y -qq clang
	@mkdir -p $(dir $@)
	clang $(CSTD) $(FUZZ_FLAGS) -Isrc $(shell pkg-config --cflags $(PKGS)) -o $@ $^ $(LIBS)

demo: all
	@sh jobs/demo.sh

# make install [PREFIX=/usr/local] [DESTDIR=]: the two programs, the
# templates, the man pages, the bash completion, the systemd units and the
# examples (cron line, job file); @VERSION@, @DATADIR@ and @BINDIR@ are
# filled in. 'make uninstall' with the same variables removes them again.
VERSION := $(shell sed -n 's/^\#define MBXFIX_VERSION "\(.*\)"/\1/p' src/version.h)
TEMPLATE_FILES := $(shell cd templates && find . -type f | sort)
SUBST = sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@DATADIR@|$(DATADIR)|g' \
	-e 's|@BINDIR@|$(BINDIR)|g'
UNITS := mbxfix-run@.service mbxfix-rerun@.service mbxfix-rerun@.timer

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 755 $(BIN)/mbxfix $(BIN)/dvsim $(DESTDIR)$(BINDIR)/
	for f in $(TEMPLATE_FILES); do \
		$(INSTALL) -D -m 644 templates/$$f \
			$(DESTDIR)$(DATADIR)/mbxfix/templates/$$f || exit 1; \
	done
	$(SUBST) man/mbxfix.1 >$(DESTDIR)$(MANDIR)/man1/mbxfix.1
	$(SUBST) man/mbxfix-job.5 >$(DESTDIR)$(MANDIR)/man5/mbxfix-job.5
	chmod 644 $(DESTDIR)$(MANDIR)/man1/mbxfix.1 \
		$(DESTDIR)$(MANDIR)/man5/mbxfix-job.5
	$(INSTALL) -m 644 contrib/bash-completion/mbxfix \
		$(DESTDIR)$(BASHCOMPDIR)/mbxfix
	$(INSTALL) -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/examples
	for u in $(UNITS); do \
		$(SUBST) contrib/systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	$(SUBST) contrib/cron/mbxfix >$(DESTDIR)$(DOCDIR)/examples/cron.d-mbxfix
	$(SUBST) contrib/systemd/example-job.cfg \
		>$(DESTDIR)$(DOCDIR)/examples/wave-3.cfg
	chmod 644 $(DESTDIR)$(DOCDIR)/examples/*

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mbxfix $(DESTDIR)$(BINDIR)/dvsim \
		$(DESTDIR)$(MANDIR)/man1/mbxfix.1 \
		$(DESTDIR)$(MANDIR)/man5/mbxfix-job.5 \
		$(DESTDIR)$(BASHCOMPDIR)/mbxfix
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
	rm -rf $(DESTDIR)$(DATADIR)/mbxfix $(DESTDIR)$(DOCDIR)/examples
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null

# The Debian package, the systemd units and the installed man pages
# (installs debhelper, systemd and man-db when missing; a few minutes).
packaging: all
	@MBXFIX=$(abspath $(BIN)/mbxfix) DVSIM=$(abspath $(BIN)/dvsim) sh tests/packaging/run

bench: all
	@sh tests/bench/run-bench

style:
	git clang-format --diff HEAD -- src tests || true

cppcheck:
	cppcheck --std=c11 --enable=warning,performance,portability --library=posix \
		--inline-suppr --error-exitcode=1 -q -Isrc src

clean:
	rm -rf build mbxfix mbxfix-test dvsim

distclean: clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

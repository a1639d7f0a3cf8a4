# mbxfix and dvsim. 'make' builds both, 'make test' runs every test,
# 'make asan' runs them under AddressSanitizer + UBSan, 'make demo' runs
# a real job against a generated organisation. Missing Debian packages are
# installed first when run as root.

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

PACKAGES = libcurl4-openssl-dev libcjson-dev libcsv-dev libssl-dev \
           libconfig-dev libmicrohttpd-dev libcmocka-dev pkg-config openssl \
           curl jq nghttp2-proxy

# Install what is missing before anything asks pkg-config about it.
ifeq ($(filter clean distclean,$(MAKECMDGOALS)),)
MISSING := $(shell for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done)
ifneq ($(strip $(MISSING)),)
$(info mbxfix: installing missing packages: $(MISSING))
INSTALLED := $(shell if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(MISSING)) >&2 && echo 0; else echo 1; fi)
ifneq ($(INSTALLED),0)
$(error mbxfix: cannot install $(MISSING); run 'make' as root or install them with apt-get)
endif
endif
endif

ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -MMD -MP
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

.PHONY: all test unit e2e variants interop asan demo bench fuzz clean distclean style cppcheck

all: $(BIN)/mbxfix $(BIN)/dvsim

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBMBXFIX): $(call obj,$(LIB_SRC))
	@rm -f $@
	ar rcs $@ $^

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

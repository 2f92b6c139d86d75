# salvage -- build, test, bench, install.
#   make                          build ./salvage (installs missing Debian packages first)
#   make test                     unit (Criterion) and end-to-end tests
#   make conformance              robots.txt and URL suites of ../shared/conformance
#   make SANITIZE=address,undefined test
#   make bench                    benchmarks against peer tools (bench/)
#   make demo                     a short tour on a real archive (build/demo)
#   make install PREFIX=/usr/local DESTDIR=
# Project flags live in SV_* variables, so a user's CFLAGS/LDFLAGS add to them.

VERSION := 0.1.0
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKG_CONFIG ?= pkg-config
SANITIZE ?=

PKGS := libzstd libcrypto libgit2 libssh2 libcurl sqlite3 libpq jansson libxml-2.0 zlib libzip libdeflate libbrotlidec yajl
SV_CPPFLAGS := -D_GNU_SOURCE -DSV_VERSION='"$(VERSION)"' -MMD -MP
SV_CFLAGS := -std=c11 -O2 -g -Wall -Wextra -Werror -pthread
SV_LDLIBS = $(shell $(PKG_CONFIG) --libs $(PKGS)) -lcsv -pthread
SV_PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS))

ifneq ($(SANITIZE),)
SV_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
SV_LDFLAGS += -fsanitize=$(SANITIZE)
BUILD := build/san
else
BUILD := build/rel
endif

# The library: every module but the program (cli/), which alone prints and
# picks exit statuses.
LIB_SRCS := $(wildcard common/*.c storage/*.c queue/*.c seeds/*.c crawler/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
PROG_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard cli/*.c))
LIB := $(BUILD)/libsalvage.a
BIN := $(BUILD)/salvage
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
CONFORMANCE := $(BUILD)/tests/conformance
TEST_HELPERS := $(BUILD)/tests/genstream $(BUILD)/tests/testserver $(BUILD)/tests/stdfd_guard.so $(CONFORMANCE)
DEPS_STAMP := build/.deps-ok

.PHONY: all deps test conformance bench demo install clean
all: salvage

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/deps.sh tests/js/package-lock.json
	bash scripts/deps.sh
	@mkdir -p $(@D) && touch $@

# The default build is also reachable as ./salvage.
salvage: $(BIN)
ifeq ($(SANITIZE),)
	cp $(BIN) $@
endif

$(BIN): $(PROG_OBJS) $(LIB)
	$(CC) $(SV_CFLAGS) $(CFLAGS) $(SV_LDFLAGS) $(LDFLAGS) -o $@ $^ $(SV_LDLIBS) $(LDLIBS)

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(SV_CPPFLAGS) $(CPPFLAGS) $(SV_CFLAGS) $(SV_PKG_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIB) tests/unit/helpers.h
	@mkdir -p $(@D)
	$(CC) $(SV_CPPFLAGS) $(CPPFLAGS) $(SV_CFLAGS) $(SV_PKG_CFLAGS) $(CFLAGS) $(SV_LDFLAGS) $(LDFLAGS) \
		-Wno-format-truncation -o $@ $< $(LIB) $(SV_LDLIBS) -lcriterion $(LDLIBS)
# The decoder's tests make brotli streams with brotli's encoder, which salvage itself does not need.
$(BUILD)/tests/test_decode: SV_LDLIBS += $(shell $(PKG_CONFIG) --libs libbrotlienc)

$(BUILD)/tests/testserver: tests/server/testserver.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(SV_CPPFLAGS) $(CPPFLAGS) $(SV_CFLAGS) $(shell $(PKG_CONFIG) --cflags libmicrohttpd zlib) $(CFLAGS) \
		$(SV_LDFLAGS) $(LDFLAGS) -o $@ $< $(shell $(PKG_CONFIG) --libs libmicrohttpd zlib) $(LDLIBS)

# Preloaded into salvage by a test: built without sanitizers, whatever SANITIZE says.
$(BUILD)/tests/stdfd_guard.so: tests/stdfd_guard.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -o $@ $< -ldl

$(BUILD)/tests/genstream: tests/genstream.c
	@mkdir -p $(@D)
	$(CC) $(SV_CPPFLAGS) $(SV_CFLAGS) $(CFLAGS) $(SV_LDFLAGS) $(LDFLAGS) -o $@ $<

# Other people's suites (Google's robots.txt tests, WHATWG's URL tests), read
# from ../shared/conformance or $$SV_CONFORMANCE; tests/conformance/known.txt
# lists the cases salvage fails on purpose.
$(CONFORMANCE): tests/conformance/runner.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(SV_CPPFLAGS) $(CPPFLAGS) $(SV_CFLAGS) $(SV_PKG_CFLAGS) $(CFLAGS) $(SV_LDFLAGS) $(LDFLAGS) \
		-o $@ $< $(LIB) $(SV_LDLIBS) $(LDLIBS)

conformance: $(CONFORMANCE)
	bash tests/conformance/run.sh $(abspath $(CONFORMANCE))

test: $(BIN) $(TEST_BINS) $(TEST_HELPERS)
	SALVAGE=$(abspath $(BIN)) BUILD=$(abspath $(BUILD)) bash tests/run

$(BUILD)/bench/queue_bench: bench/queue_bench.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(SV_CPPFLAGS) $(CPPFLAGS) $(SV_CFLAGS) $(SV_PKG_CFLAGS) $(CFLAGS) $(SV_LDFLAGS) $(LDFLAGS) \
		-o $@ $< $(LIB) $(SV_LDLIBS) $(LDLIBS)

bench: salvage $(BUILD)/bench/queue_bench
	bash bench/run
	QUEUE_BENCH=$(abspath $(BUILD)/bench/queue_bench) bash bench/queue
	QUEUE_BENCH=$(abspath $(BUILD)/bench/queue_bench) bash bench/pgqueue
	SALVAGE=$(abspath salvage) bash bench/sheet
	SALVAGE=$(abspath salvage) BENCH_KEEP=1 bash bench/crawl
	SALVAGE=$(abspath salvage) bash bench/mirror
	SALVAGE=$(abspath salvage) bash bench/export
	SALVAGE=$(abspath salvage) bash bench/catalog

demo: salvage $(BUILD)/tests/testserver
	BUILD=$(abspath $(BUILD)) bash scripts/demo.sh

install: salvage
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 salvage $(DESTDIR)$(PREFIX)/bin/salvage

clean:
	rm -rf build salvage

-include $(shell find build -name '*.d' 2>/dev/null)

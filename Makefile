# mqchat - build, run, test, benchmark.
#
#   make          build everything into build/
#   make run      install missing packages, build, start mqchatd on its defaults
#   make test     install missing packages, build, run every suite (what CI runs)
#   make asan     the unit and broker suites under AddressSanitizer + UBSan
#   make fuzz     the codec fuzz target for FUZZ_SECONDS (default 60)
#   make bench    mqchatd against Mosquitto, results in doc/benchmarks.md
#   make install  the programs, man pages and example config under PREFIX
#                 (default /usr/local; DESTDIR for staging)

CC       ?= cc
BUILD    ?= build
OPT      ?= -O2
SAN      ?=
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wmissing-prototypes \
            -Wshadow -Wno-unused-parameter $(OPT) -g $(SAN) -Ibroker -Ibridge -I$(BUILD)/gen \
            -DMQCHAT_WEB_DIR='"$(CURDIR)/clients/web/dist"'
PKG_LIBS  = libuv openssl sqlite3 libmariadb libargon2 libcjson libmicrohttpd hiredis
CFLAGS   += $(shell pkg-config --cflags $(PKG_LIBS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKG_LIBS) 2>/dev/null) -lwslay -lpthread -lm
LDFLAGS  += $(SAN)
FUZZ_SECONDS ?= 60

BROKER_SRCS := $(filter-out broker/main.c,$(wildcard broker/*.c)) $(wildcard bridge/*.c)
BROKER_OBJS := $(BROKER_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/schema_sql.o
SCHEMA_SQL  := $(sort $(wildcard schema/sqlite/*.sql schema/mysql/*.sql))
LIB         := $(BUILD)/libmqchat.a

UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
CLIENT_TEST_SRCS := $(wildcard tests/broker/client_*.c)
CLIENT_TEST_BINS := $(CLIENT_TEST_SRCS:tests/broker/%.c=$(BUILD)/tests/broker/%)
CHAT_TEST_SRCS   := $(wildcard tests/chat/client_*.c)
CHAT_TEST_BINS   := $(CHAT_TEST_SRCS:tests/chat/%.c=$(BUILD)/tests/chat/%)

# The user-facing clients (issue 9), each from its own directory, sharing
# clients/common; a client whose directory has no sources yet is left out.
COMMON_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard clients/common/*.c))
CLI_SRCS     := $(wildcard clients/cli/*.c)
NOTIFY_SRCS  := $(wildcard clients/notify/*.c)
DISPLAY_SRCS := $(wildcard clients/display/*.c)
CLIENT_PROGS := $(if $(CLI_SRCS),$(BUILD)/mqchat) $(if $(NOTIFY_SRCS),$(BUILD)/mqchat-notify) \
                $(if $(DISPLAY_SRCS),$(BUILD)/mqchat-display)

PROGS := $(BUILD)/mqchatd $(BUILD)/mqchat-passwd $(BUILD)/mqchat-bench $(BUILD)/mqchat-spoolbench \
         $(CLIENT_PROGS)

.PHONY: all deps run web test test-unit test-broker asan fuzz bench install clean
.SECONDARY:

all: $(PROGS) $(UNIT_BINS) $(CLIENT_TEST_BINS) $(CHAT_TEST_BINS)

deps:
	@sh scripts/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The numbered migrations of schema/, compiled in (see bridge/schema.h).
$(BUILD)/gen/schema_sql.c: scripts/embed-sql.sh $(SCHEMA_SQL)
	@mkdir -p $(dir $@)
	sh scripts/embed-sql.sh schema > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/schema_sql.o: $(BUILD)/gen/schema_sql.c
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(BROKER_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/mqchatd: $(BUILD)/broker/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mqchat-passwd: $(BUILD)/clients/tools/mqchat_passwd.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mqchat-spoolbench: $(BUILD)/clients/tools/mqchat_spoolbench.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

BENCH_SRCS := $(wildcard clients/bench/*.c)
$(BUILD)/mqchat-bench: $(BENCH_SRCS:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mqchat: $(CLI_SRCS:%.c=$(BUILD)/%.o) $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ -lpaho-mqtt3as -lcjson -lpthread

$(BUILD)/mqchat-notify: $(NOTIFY_SRCS:%.c=$(BUILD)/%.o) $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ -lmosquitto -lcjson

$(BUILD)/mqchat-display: $(DISPLAY_SRCS:%.c=$(BUILD)/%.o) $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ -lmosquitto -lcjson -lncursesw

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/tests/unit/unit_helpers.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

# clients/common is not in libmqchat.a: a unit test of it links its object.
$(BUILD)/tests/unit/test_textwidth: $(BUILD)/clients/common/textwidth.o
$(BUILD)/tests/unit/test_safetext: $(BUILD)/clients/common/safetext.o $(BUILD)/clients/common/textwidth.o

$(BUILD)/tests/broker/%: $(BUILD)/tests/broker/%.o $(BUILD)/tests/broker/testlib.o
	$(CC) $(LDFLAGS) -o $@ $^ -lpaho-mqtt3c -lpaho-mqtt3a -lmosquitto $(LDLIBS)

# ssl:// and wss:// need Paho's SSL build, which must not be linked with -lpaho-mqtt3c.
$(BUILD)/tests/broker/client_paho_transports: $(BUILD)/tests/broker/client_paho_transports.o \
    $(BUILD)/tests/broker/testlib.o
	$(CC) $(LDFLAGS) -o $@ $^ -lpaho-mqtt3cs $(LDLIBS)

$(BUILD)/tests/chat/%: $(BUILD)/tests/chat/%.o $(BUILD)/tests/chat/chatlib.o $(BUILD)/tests/broker/testlib.o
	$(CC) $(LDFLAGS) -o $@ $^ -lpaho-mqtt3c -lpaho-mqtt3a -lmosquitto $(LDLIBS)

# The browser chat (clients/web/README.md) into clients/web/dist, which the
# HTTP API serves at /: npm ci when node_modules is missing or older than
# package-lock.json, then esbuild.
web:
	@cd clients/web && if [ ! -f node_modules/.package-lock.json ] || \
	    [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi
	cd clients/web && npm run build

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/mqchatd
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web || \
	    echo "make web failed: mqchatd runs without its web page"; \
	else echo "no npm: mqchatd runs without its web page (apt-get install nodejs npm; make web)"; fi
	@echo "mqchatd: MQTT on 127.0.0.1:1883, HTTP API and web page on http://127.0.0.1:8080/, data in ./data"
	@echo "  local play only: anonymous MQTT on, open sign-up, rooms made on first use, a fixed token secret"
	@echo "  try: curl -X POST localhost:8080/v1/users -d '{\"id\":\"alice\",\"password\":\"pw-alice\"}'"
	$(BUILD)/mqchatd --set bind_address=127.0.0.1 --set allow_anonymous=true \
	    --set http.bind_address=127.0.0.1 --set chat.open_signup=true \
	    --set chat.auto_create_rooms=true --set chat.token_secret=make-run-local-only -v

# The plain suite runs last, so that its `N passed, N failed` closes the output.
# To stay well inside CI's time: the broker suites run with 4 workers under
# ASan and with 1 worker here (run.sh alone runs both: MQCHAT_WORKERS_LIST),
# and the fuzz run is half a minute.
test: deps
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-30}
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory all
	@MQCHAT_WORKERS_LIST="$${MQCHAT_WORKERS_LIST:-1}" sh tests/run.sh $(BUILD)

test-unit: all
	@sh tests/run.sh $(BUILD) unit

test-broker: all
	@sh tests/run.sh $(BUILD) broker

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    MQCHAT_WORKERS_LIST="$${MQCHAT_WORKERS_LIST:-4}" sh tests/run.sh build-asan

fuzz: deps
	@mkdir -p $(BUILD)/fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Ibroker -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -o $(BUILD)/fuzz/fuzz_codec tests/fuzz/fuzz_codec.c broker/mqtt_codec.c broker/mqtt5.c broker/errors.c
	@rm -rf $(BUILD)/fuzz/corpus && mkdir -p $(BUILD)/fuzz/corpus && cp tests/fuzz/corpus/* $(BUILD)/fuzz/corpus/
	$(BUILD)/fuzz/fuzz_codec -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 \
	    $(BUILD)/fuzz/corpus 2>&1 | tail -n 12

bench: deps
	@$(MAKE) --no-print-directory $(PROGS)
	@sh clients/bench/run-bench.sh $(BUILD)

PREFIX  ?= /usr/local
DESTDIR ?=
MAN_PAGES  := $(wildcard doc/man/*.1)
MAN8_PAGES := $(wildcard doc/man/*.8)

# Programs to PREFIX/bin, man pages to PREFIX/share/man/man1 and man8, the example
# config to PREFIX/share/mqchat, and the web page when it is built (an
# installed mqchatd serves it with http.static_dir PREFIX/share/mqchat/web).
install: $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/mqchat
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	$(if $(MAN_PAGES),install -m 644 $(MAN_PAGES) $(DESTDIR)$(PREFIX)/share/man/man1/)
	$(if $(MAN8_PAGES),install -m 644 $(MAN8_PAGES) $(DESTDIR)$(PREFIX)/share/man/man8/)
	install -m 644 etc/mqchat.conf $(DESTDIR)$(PREFIX)/share/mqchat/mqchat.conf.example
	@if [ -d clients/web/dist ]; then install -d $(DESTDIR)$(PREFIX)/share/mqchat/web && \
	    cp -R clients/web/dist/. $(DESTDIR)$(PREFIX)/share/mqchat/web/; fi

clean:
	rm -rf build build-asan clients/web/dist

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# edge-auth — two commands matter:
#   make run    build and start the demo on 127.0.0.1:8080 (no Redis, no IdP)
#   make test   install what is missing, build, run unit + integration tests
#
# The module is built against the nginx source that Debian's nginx-dev ships,
# configured with Debian's own flags (conf_flags, --with-compat), so the stock
# /usr/sbin/nginx loads it.

SHELL      := /bin/bash
BUILD      := $(CURDIR)/build
NGX_SRC    := /usr/share/nginx/src
NGX_TREE   := $(BUILD)/nginx
CORE_BUILD := $(BUILD)/core
CORE_LIB   := $(CORE_BUILD)/libedge_auth_core.a
MODULE     := $(BUILD)/ngx_http_edge_auth_module.so
JOBS       ?= 2

APT_PACKAGES := nginx nginx-dev build-essential cmake pkg-config libssl-dev \
	libjansson-dev libcurl4-openssl-dev libhiredis-dev libcrypt-dev \
	libgtest-dev googletest redis-server wrk apache2-utils curl chromium

.PHONY: all deps core unit module test itest run bench clean

all: $(MODULE)

# Installs only what is missing (idempotent; needs root on a fresh machine).
deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

core: $(CORE_LIB)

$(CORE_BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(CORE_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

$(CORE_LIB): $(CORE_BUILD)/Makefile $(wildcard src/core/*.cpp src/core/*.h)
	cmake --build $(CORE_BUILD) -j $(JOBS)

# configure lists the connector sources: configure again when that list changes.
NGX_SOURCES := $(sort $(wildcard src/ngx/*.cpp))
$(shell mkdir -p $(BUILD); echo "$(NGX_SOURCES)" | cmp -s - $(BUILD)/ngx-sources.txt \
	|| echo "$(NGX_SOURCES)" > $(BUILD)/ngx-sources.txt)

# Debian builds nginx and its modules with these (dpkg-buildflags): -O2 and
# the hardening flags; nginx's own default would be a plain -O.
NGX_CC_OPT ?= -g -O2 -fstack-protector-strong -Wformat -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2
NGX_LD_OPT ?= -Wl,-z,relro -Wl,-z,now -fPIC

# nginx's configure wants to run inside its source tree and writes a Makefile
# there, so configure a private copy of the headers-only tree nginx-dev ships.
$(NGX_TREE)/objs/Makefile: config Makefile $(NGX_SRC)/conf_flags $(BUILD)/ngx-sources.txt
	rm -rf $(NGX_TREE) && mkdir -p $(BUILD) && cp -a $(NGX_SRC) $(NGX_TREE)
	cd $(NGX_TREE) && . ./conf_flags && \
	  EDGE_AUTH_CORE_LIB=$(CORE_LIB) ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" \
	    --add-dynamic-module=$(CURDIR) >$(BUILD)/nginx-configure.log 2>&1 \
	  || { tail -20 $(BUILD)/nginx-configure.log; exit 1; }

$(MODULE): $(CORE_LIB) $(NGX_TREE)/objs/Makefile $(wildcard src/ngx/*.cpp src/ngx/*.h)
	$(MAKE) -C $(NGX_TREE) -f objs/Makefile -j $(JOBS) modules
	@# a new inode: overwriting a .so in place crashes every nginx that has it loaded
	cp $(NGX_TREE)/objs/ngx_http_edge_auth_module.so $@.tmp && mv -f $@.tmp $@
	@if nm -D --undefined-only $@ | grep -q '_Z.*ngx_'; then \
	  echo "error: nginx symbols referenced with C++ linkage (missing extern \"C\")"; exit 1; fi

module: $(MODULE)

unit: $(CORE_LIB)
	cd $(CORE_BUILD) && ctest --output-on-failure -j $(JOBS)

t/node_modules/.installed: t/package.json t/package-lock.json
	cd t && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed

itest: $(MODULE) t/node_modules/.installed
	cd t && node --test --test-concurrency=2 --test-timeout=180000 --test-reporter=spec --test-reporter-destination=stdout \
	  --test-reporter=./lib/summary-reporter.mjs --test-reporter-destination=$(BUILD)/itest-summary.txt

# make test: unit tests, then integration tests; the last line is the total.
test: deps
	@$(MAKE) --no-print-directory all t/node_modules/.installed
	@rc=0; \
	 ( cd $(CORE_BUILD) && ctest --output-on-failure -j $(JOBS) ) | tee $(BUILD)/unit.log || rc=1; \
	 $(MAKE) --no-print-directory itest || rc=1; \
	 up=$$(grep -oE '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' $(BUILD)/unit.log | tail -1); \
	 ut=$$(echo "$$up" | grep -oE '[0-9]+$$'); uf=$$(echo "$$up" | grep -oE '[0-9]+ tests failed' | grep -oE '^[0-9]+'); \
	 ip=$$(sed -n 's/^pass //p' $(BUILD)/itest-summary.txt 2>/dev/null); \
	 if_=$$(sed -n 's/^fail //p' $(BUILD)/itest-summary.txt 2>/dev/null); \
	 ut=$${ut:-0}; uf=$${uf:-1}; ip=$${ip:-0}; if_=$${if_:-1}; \
	 echo "unit: $$((ut-uf)) passed, $$uf failed; integration: $$ip passed, $$if_ failed"; \
	 [ $$uf = 0 ] && [ $$if_ = 0 ] || rc=1; \
	 echo "$$((ut-uf+ip)) passed, $$((uf+if_)) failed"; \
	 exit $$rc

run: deps all
	@bash conf-examples/run-demo.sh

# The session scenario compares with Apache + mod_auth_openidc (not needed by the tests).
BENCH_PACKAGES := apache2 libapache2-mod-auth-openidc

bench: deps all
	@missing=$$(for p in $(BENCH_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  service apache2 stop >/dev/null 2>&1 || true; \
	fi
	@bash bench/run

clean:
	rm -rf $(BUILD)

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
	libgtest-dev googletest redis-server wrk apache2-utils curl chromium \
	debhelper dpkg-dev lintian

.PHONY: all deps core unit module test itest run bench deb clean asan-module test-asan valgrind fuzz

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

# After the suite, the secrets audit (t/secrets-audit.mjs) looks for every
# secret and token the suite used in every log and nginx answer it recorded;
# it counts as one more test.
itest: $(MODULE) t/node_modules/.installed
	@rm -rf t/.tmp/audit
	@cd t && rc=0; node --test --test-concurrency=2 --test-timeout=180000 --test-reporter=spec --test-reporter-destination=stdout \
	  --test-reporter=./lib/summary-reporter.mjs --test-reporter-destination=$(BUILD)/itest-summary.txt || rc=1; \
	 node secrets-audit.mjs --summary $(BUILD)/itest-summary.txt || rc=1; \
	 exit $$rc

# make test: unit tests, then integration tests; the last line is the total.
test: deps
	@$(MAKE) --no-print-directory all t/node_modules/.installed
	@# as root t/deb.test.mjs installs the package: build it before the suite runs,
	@# not in parallel with other test files
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory deb; fi
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

# make test-asan: the core and the module built with AddressSanitizer +
# UndefinedBehaviorSanitizer in a tree of their own (build/asan; the normal
# build/ngx_http_edge_auth_module.so is never touched). The core unit tests run
# with leak detection; the integration suite runs against the stock nginx with
# the ASan runtime preloaded (t/lib/nginx.mjs does that when EDGE_AUTH_SANITIZE
# names it), and a test file fails when its nginx wrote any sanitizer report.
# The last line is the total, as for make test.
ASAN_BUILD      := $(BUILD)/asan
ASAN_CORE_BUILD := $(ASAN_BUILD)/core
ASAN_CORE_LIB   := $(ASAN_CORE_BUILD)/libedge_auth_core.a
ASAN_NGX_TREE   := $(ASAN_BUILD)/nginx
ASAN_MODULE     := $(ASAN_BUILD)/ngx_http_edge_auth_module.so
SANITIZE_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer
# gcc 12 with -fsanitize=address reports false maybe-uninitialized warnings
# inside libstdc++ (<regex>'s std::function moves); -Werror would stop the build.
SANITIZE_WNO    := -Wno-maybe-uninitialized
ASAN_RUNTIME     = $(shell gcc -print-file-name=libasan.so)
# Unit tests: leaks count; any UBSan report fails the test that caused it.
ASAN_UNIT_ENV   := ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# deb.test.mjs checks the Debian package built from the normal tree, not this module.
ASAN_ITESTS      = $(filter-out deb.test.mjs $(ASAN_SKIP_TESTS),$(notdir $(wildcard t/*.test.mjs)))
ASAN_SKIP_TESTS ?=

$(ASAN_CORE_BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(ASAN_CORE_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGE_AUTH_SANITIZE=ON \
	  -DCMAKE_CXX_FLAGS="$(SANITIZE_WNO)" >/dev/null

$(ASAN_CORE_LIB): $(ASAN_CORE_BUILD)/Makefile $(wildcard src/core/*.cpp src/core/*.h)
	cmake --build $(ASAN_CORE_BUILD) -j $(JOBS)

# The same configure as the normal module (so the signature matches the stock
# nginx) plus the sanitizer flags; configure's test programs are ASan programs
# too, and must not fail on their own leaks.
$(ASAN_NGX_TREE)/objs/Makefile: config Makefile $(NGX_SRC)/conf_flags $(BUILD)/ngx-sources.txt
	rm -rf $(ASAN_NGX_TREE) && mkdir -p $(ASAN_BUILD) && cp -a $(NGX_SRC) $(ASAN_NGX_TREE)
	cd $(ASAN_NGX_TREE) && . ./conf_flags && \
	  ASAN_OPTIONS=detect_leaks=0 EDGE_AUTH_CORE_LIB=$(ASAN_CORE_LIB) ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="$(NGX_CC_OPT) $(SANITIZE_FLAGS) $(SANITIZE_WNO)" \
	    --with-ld-opt="$(NGX_LD_OPT) $(SANITIZE_FLAGS)" \
	    --add-dynamic-module=$(CURDIR) >$(ASAN_BUILD)/nginx-configure.log 2>&1 \
	  || { tail -20 $(ASAN_BUILD)/nginx-configure.log; exit 1; }

$(ASAN_MODULE): $(ASAN_CORE_LIB) $(ASAN_NGX_TREE)/objs/Makefile $(wildcard src/ngx/*.cpp src/ngx/*.h)
	$(MAKE) -C $(ASAN_NGX_TREE) -f objs/Makefile -j $(JOBS) modules
	cp $(ASAN_NGX_TREE)/objs/ngx_http_edge_auth_module.so $@.tmp && mv -f $@.tmp $@

asan-module: $(ASAN_MODULE)

test-asan: deps
	@$(MAKE) --no-print-directory asan-module t/node_modules/.installed
	@rc=0; start=$$(date +%s); \
	 ( cd $(ASAN_CORE_BUILD) && env $(ASAN_UNIT_ENV) ctest --output-on-failure -j $(JOBS) ) >$(ASAN_BUILD)/unit.log 2>&1 || rc=1; \
	 grep -E 'tests passed|Failed|\*\*\*' $(ASAN_BUILD)/unit.log; \
	 reports=$$(grep -cE 'ERROR: (Address|Leak)Sanitizer|runtime error:' $(ASAN_BUILD)/unit.log); \
	 echo "asan: unit tests in $$(( $$(date +%s) - start )) s, $$reports sanitizer reports (log: $(ASAN_BUILD)/unit.log)"; \
	 start=$$(date +%s); rm -f $(ASAN_BUILD)/itest-summary.txt $(ASAN_BUILD)/itest-reports.txt; irc=0; \
	 ( cd t && EDGE_AUTH_MODULE=$(ASAN_MODULE) EDGE_AUTH_SANITIZE=$(ASAN_RUNTIME) EDGE_AUTH_AUDIT=0 \
	   EDGE_AUTH_SANITIZE_LOG=$(ASAN_BUILD)/itest-reports.txt \
	   node --test --test-concurrency=2 --test-timeout=360000 --test-reporter=spec --test-reporter-destination=stdout \
	     --test-reporter=./lib/summary-reporter.mjs --test-reporter-destination=$(ASAN_BUILD)/itest-summary.txt \
	     $(ASAN_ITESTS) ) || irc=1; \
	 ireports=$$(cat $(ASAN_BUILD)/itest-reports.txt 2>/dev/null | wc -l); \
	 echo "asan: integration tests ($(words $(ASAN_ITESTS)) files) in $$(( $$(date +%s) - start )) s, $$ireports sanitizer reports"; \
	 [ $$ireports = 0 ] || cat $(ASAN_BUILD)/itest-reports.txt; \
	 up=$$(grep -oE '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' $(ASAN_BUILD)/unit.log | tail -1); \
	 ut=$$(echo "$$up" | grep -oE '[0-9]+$$'); uf=$$(echo "$$up" | grep -oE '[0-9]+ tests failed' | grep -oE '^[0-9]+'); \
	 ip=$$(sed -n 's/^pass //p' $(ASAN_BUILD)/itest-summary.txt 2>/dev/null); \
	 if_=$$(sed -n 's/^fail //p' $(ASAN_BUILD)/itest-summary.txt 2>/dev/null); \
	 ut=$${ut:-0}; uf=$${uf:-1}; ip=$${ip:-0}; if_=$${if_:-1}; \
	 if [ $$rc != 0 ] && [ $$uf = 0 ]; then uf=1; fi; \
	 if [ $$reports != 0 ] && [ $$uf = 0 ]; then uf=1; fi; \
	 if [ $$irc != 0 ] && [ $$if_ = 0 ]; then if_=1; fi; \
	 if [ $$ireports != 0 ] && [ $$if_ = 0 ]; then if_=1; fi; \
	 echo "asan: unit: $$((ut-uf)) passed, $$uf failed; integration: $$ip passed, $$if_ failed"; \
	 echo "$$((ut-uf+ip)) passed, $$((uf+if_)) failed, $$((reports+ireports)) reports" > $(BUILD)/asan-summary.txt; \
	 echo "$$((ut-uf+ip)) passed, $$((uf+if_)) failed"; \
	 [ $$uf = 0 ] && [ $$if_ = 0 ]

# make valgrind: bench/valgrind, the module as `make` builds it in the stock
# nginx under valgrind memcheck (one process, master_process off), a few
# thousand requests through every method, clients leaving parked requests,
# QUIT; fails on any memcheck error or definite leak (t/valgrind.supp lists the
# nginx and glibc reports that are not ours). Installs valgrind when missing.
# The last line is the result; build/valgrind-summary.txt has the counts.
VALGRIND_PACKAGES := valgrind

valgrind: deps
	@$(MAKE) --no-print-directory all t/node_modules/.installed
	@missing=$$(for p in $(VALGRIND_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@bash bench/valgrind

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

# make deb: the Debian package libnginx-mod-http-edge-auth (debian/), built by
# dpkg-buildpackage in a copy of the tree (build/deb/src: the files git knows
# or would add, as they are now), so nothing is written outside build/. The
# C++ core is built by `config` with CMake inside that build. The result is
# build/libnginx-mod-http-edge-auth_<version>_<arch>.deb, checked by lintian
# (build/deb/lintian.txt; any E: fails). The package is rebuilt only when
# what it is built from changed (DEB_INPUTS' contents, nginx-dev's version);
# DEB_FORCE=1 rebuilds anyway.
DEB_PACKAGE := libnginx-mod-http-edge-auth
DEB_INPUTS  := debian config CMakeLists.txt src

deb: deps
	@set -eo pipefail; mkdir -p $(BUILD); exec 9>$(BUILD)/.deb.lock; flock 9; \
	 version=$$(dpkg-parsechangelog -l debian/changelog -S Version); arch=$$(dpkg --print-architecture); \
	 deb=$(DEB_PACKAGE)_$${version}_$${arch}.deb; \
	 if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then list() { git ls-files -z -co --exclude-standard -- "$$@"; }; \
	 else list() { find "$${@:-.}" \( -path ./.git -o -path ./build -o -path ./t/node_modules -o -path ./t/.tmp -o -path ./bench/.tmp \) \
	        -prune -o \( -type f -o -type l \) -print0 | sed -z 's|^\./||'; }; fi; \
	 files() { list "$$@" | while IFS= read -r -d '' f; do if [ -e "$$f" ] || [ -L "$$f" ]; then printf '%s\0' "$$f"; fi; done; }; \
	 tree=$$( { files $(DEB_INPUTS) | xargs -0 sha1sum; dpkg-query -W nginx-dev; } | sha1sum | cut -d' ' -f1); \
	 if [ -z "$(DEB_FORCE)" ] && [ -f $(BUILD)/$$deb ] && [ "$$(cat $(BUILD)/deb/tree.sha1 2>/dev/null)" = "$$tree" ]; then \
	   echo "deb: $(BUILD)/$$deb is up to date (DEB_FORCE=1 rebuilds)"; \
	 else \
	   rm -rf $(BUILD)/deb $(BUILD)/$$deb && mkdir -p $(BUILD)/deb/src; \
	   files | tar --null -T - -cf - | tar -C $(BUILD)/deb/src -xf -; \
	   echo "deb: dpkg-buildpackage -b in $(BUILD)/deb/src (log: $(BUILD)/deb/build.log)"; \
	   start=$$(date +%s); \
	   ( cd $(BUILD)/deb/src && dpkg-buildpackage -b -us -uc -J$(JOBS) ) >$(BUILD)/deb/build.log 2>&1 \
	     || { tail -40 $(BUILD)/deb/build.log; echo "deb: dpkg-buildpackage failed (log: $(BUILD)/deb/build.log)"; exit 1; }; \
	   cp $(BUILD)/deb/$$deb $(BUILD)/$$deb.tmp && mv -f $(BUILD)/$$deb.tmp $(BUILD)/$$deb; \
	   echo "$$tree" > $(BUILD)/deb/tree.sha1; \
	   echo "deb: built $(BUILD)/$$deb in $$(( $$(date +%s) - start )) s"; \
	 fi; \
	 changes=$(BUILD)/deb/edge-auth_$${version}_$${arch}.changes; \
	 as=; if [ "$$(id -u)" = 0 ] && setpriv --reuid=nobody --regid=nogroup --clear-groups test -r $$changes 2>/dev/null; then \
	   as="setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/nonexistent"; fi; \
	 rc=0; $$as lintian --pedantic -I --show-overrides $(BUILD)/$$deb $$changes >$(BUILD)/deb/lintian.txt 2>&1 || rc=$$?; \
	 cat $(BUILD)/deb/lintian.txt; \
	 if grep -q '^E:' $(BUILD)/deb/lintian.txt; then echo "deb: lintian reported errors"; exit 1; fi; \
	 if [ $$rc != 0 ]; then echo "deb: lintian failed (exit $$rc)"; exit 1; fi; \
	 echo "deb: lintian: $$(grep -c '^E:' $(BUILD)/deb/lintian.txt) errors, $$(grep -c '^W:' $(BUILD)/deb/lintian.txt) warnings"

# Fuzzing (issue 7): each libFuzzer target over its seed corpus, briefly;
# `make -C fuzz campaign` is the long run (docs/fuzzing.md). Needs Debian's clang.
FUZZ_PACKAGES := clang libclang-rt-14-dev

fuzz: deps
	@missing=$$(for p in $(FUZZ_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(MAKE) -C fuzz smoke

clean:
	rm -rf $(BUILD)

# presence: PGXS build of the extension, plus the presence-http shim.
#
#   make && make install                  the extension (PGXS; PG_CONFIG=... for another server)
#   make http && make install-http        presence-http, the HTTP shim (src/http)
#   make installcheck                     pg_regress and the isolation specs
#   make lint, make bench                 static checks; benchmarks (BENCHMARKS.md)
#   make check-GROUP                      scripts/test GROUP (scripts/test --list)
#   WERROR=1                              warnings are errors (extension and shim)
#   ASSERTS=1                             Assert() checked (-DUSE_ASSERT_CHECKING), as scripts/test builds

EXTENSION = presence presence_router
MODULE_big = presence
OBJS = src/presence.o src/payload.o src/room_payload.o src/signature.o src/session_rules.o \
	src/plans.o src/rows.o src/rows_read.o src/rows_write.o src/rows_speculative.o src/columns.o src/store.o src/ingest.o src/apply.o src/room_apply.o src/sqlfuncs.o src/triggers.o \
	src/retention.o src/version.o src/feed.o src/feed_sql.o src/router.o src/router_rooms.o src/conninfo.o \
	src/grace_queue.o src/grace_worker.o
DATA = presence--0.1.0.sql presence--0.1.0--0.2.0.sql presence--0.2.0--0.3.0.sql \
	presence_router--0.2.0.sql presence_router--0.2.0--0.3.0.sql
PGFILEDESC = "presence - live user presence from chat connection webhooks"

REGRESS = setup parse rules signatures transactions read_only backfill reconcile history retention
REGRESS_OPTS = --inputdir=.
ISOLATION = concurrent_ingest repeatable_read signature_twins room_destroy_race
ISOLATION_OPTS = --load-extension=presence

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL = $(libpq)	# PQconninfoParse: partition strings (src/conninfo.c)
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter $(if $(WERROR),-Werror) $(if $(ASSERTS),-DUSE_ASSERT_CHECKING)
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies (without --enable-depend), so an object
# would keep a struct's old layout: every object is rebuilt when a header changes.
$(OBJS) $(OBJS:.o=.bc): $(wildcard $(srcdir)/src/*.h)

# Nor does it track the flags: .build-flags holds those of the last build, and
# a change of WERROR or ASSERTS rebuilds every object.
BUILD_FLAGS := WERROR=$(WERROR) ASSERTS=$(ASSERTS)
$(shell [ "$$(cat .build-flags 2>/dev/null)" = '$(BUILD_FLAGS)' ] || echo '$(BUILD_FLAGS)' > .build-flags)
$(OBJS) $(OBJS:.o=.bc): .build-flags

# The HTTP shim lives in src/http and reaches the extension only through SQL.
# It has targets of its own, so that plain `make && make install` builds and
# installs the extension alone, as PGXS extensions do.  WERROR=1 turns warnings
# into errors for both (CI sets it).
http:
	$(MAKE) -C src/http PG_CONFIG=$(PG_CONFIG) WERROR=$(WERROR)
install-http: http
	$(MAKE) -C src/http install PG_CONFIG=$(PG_CONFIG) WERROR=$(WERROR)
clean: clean-http
clean-http:
	$(MAKE) -C src/http clean
.PHONY: http install-http clean-http

# Static checks of our own C (headers of PostgreSQL and libraries are not ours).
LINT_INCLUDES = -I$(srcdir)/src -I$(shell $(PG_CONFIG) --includedir-server) -I$(shell $(PG_CONFIG) --includedir)
lint:
	cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 \
		--suppress=missingIncludeSystem --suppress='*:/usr/include/*' --suppress=toomanyconfigs --max-configs=1 \
		$(LINT_INCLUDES) src/*.c src/http/*.c
	clang-tidy --quiet src/*.c src/http/*.c -- $(LINT_INCLUDES) -I/usr/include/postgresql/internal
.PHONY: lint

# One target per group of scripts/test --list: make check-http is scripts/test http
# (test/README.md).  A throwaway cluster of its own each; PRESENCE_TEST_PORT picks its port.
TEST_GROUPS = $(shell scripts/test --list 2>/dev/null | cut -d' ' -f1)
CHECK_TARGETS = $(addprefix check-,$(TEST_GROUPS))
$(CHECK_TARGETS): check-%:
	scripts/test $*
.PHONY: $(CHECK_TARGETS)

# Benchmarks (BENCHMARKS.md): a throwaway server, every figure, one table.
bench:
	bench/run.sh
.PHONY: bench

# The scale figure (BENCHMARKS.md): 1,000,000 users against 100,000; about 25 minutes, not in CI.
bench-scale:
	bench/scale.sh
.PHONY: bench-scale

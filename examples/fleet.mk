# fleet.mk — the nightly verify-and-repair pipeline for many bucket pairs, N at a time.
#
# For each pair SOURCE:REPLICA in BUCKETS (a bare NAME means NAME:NAME$(REPLICA_SUFFIX)):
#   1. s3-manifest  lists s3://SOURCE$(PREFIX)                   -> source.ndjson.gz
#   2. s3-check     checks s3://REPLICA$(PREFIX) against it      -> check.ndjson.gz
#                   (only records that are not ok; exit 1 = damage found, not a failure)
#   3. s3-repair    copies what failed from SOURCE to REPLICA     -> repair.ndjson.gz
# Each stage keeps a checkpoint in the pair's work directory $(WORK)/SOURCE/, so a killed
# or failed night is finished by running the same command again, and a run whose stages
# all completed does nothing: every stage sees its completed checkpoint and exits with
# that run's code. Pairs are independent targets, so `make -j N` works N pairs at once,
# and `make -k` keeps going past a pair that fails.
#
#   make -f examples/fleet.mk -j 4 BUCKETS="photos:photos-dr logs" WORK=/var/lib/s3deep
#
# Cron, nightly at 02:15 UTC, retried hourly until 08:15 (a completed night is a no-op):
#   15 2-8 * * *  cd /opt/s3deep && make -f examples/fleet.mk -j 4 -k BUCKETS="photos:photos-dr logs" WORK=/var/lib/s3deep >>/var/log/s3deep-fleet.log 2>&1
#
# Variables (override on the command line):
#   BUCKETS          pairs SOURCE:REPLICA, or bare names (replica NAME$(REPLICA_SUFFIX))
#   REPLICA_SUFFIX   default -replica
#   PREFIX           key prefix on both sides, e.g. /data/ (default: the whole bucket)
#   SOURCE_ENDPOINT  S3 server of the sources   (default: the AWS chain / AWS_ENDPOINT_URL)
#   REPLICA_ENDPOINT S3 server of the replicas  (default: the same as the sources)
#   NIGHT            the run's name, default today's UTC date: a new night starts fresh
#   WORK             where each night's outputs and checkpoints go (default fleet-work)
#   BIN              where the s3-* scripts are (default: the .venv/bin of this checkout)
#   MANIFEST_FLAGS, CHECK_FLAGS, REPAIR_FLAGS: extra options per stage
#                    (e.g. REPAIR_FLAGS=--dry-run, CHECK_FLAGS="--mode read")

BUCKETS ?=
REPLICA_SUFFIX ?= -replica
PREFIX ?=
SOURCE_ENDPOINT ?=
REPLICA_ENDPOINT ?= $(SOURCE_ENDPOINT)
WORK ?= fleet-work
# Expanded once: a run that crosses midnight stays one night.
ifndef NIGHT
NIGHT := $(shell date -u +%F)
endif
ifndef BIN
BIN := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))../.venv/bin)
endif
MANIFEST_FLAGS ?=
CHECK_FLAGS ?=
REPAIR_FLAGS ?=
# Statuses the check output keeps: those s3-repair acts on, and `unverified` (sizes equal,
# content not compared), which s3-repair reports as skipped unless REPAIR_FLAGS says
# --status unverified; CHECK_FLAGS="--mode read" resolves it.
NOT_OK := missing size_mismatch etag_mismatch checksum_mismatch unverified unreadable error

pair_of = $(if $(findstring :,$(1)),$(1),$(1):$(1)$(REPLICA_SUFFIX))
PAIRS := $(foreach b,$(BUCKETS),$(call pair_of,$(b)))
SOURCES := $(foreach p,$(PAIRS),$(firstword $(subst :, ,$(p))))
replica_of = $(lastword $(subst :, ,$(filter $(1):%,$(PAIRS))))
endpoint = $(if $(1),--endpoint-url $(1))

# pair/NAME targets are not .PHONY (make skips pattern rules for phony targets); FORCE
# makes them run every time, and the stages' checkpoints decide what is left to do.
.PHONY: all help FORCE
.DEFAULT_GOAL := all

all: $(SOURCES:%=pair/%) ## Verify and repair every pair of BUCKETS
ifeq ($(strip $(BUCKETS)),)
	$(error BUCKETS is empty: give BUCKETS="source:replica ..." (see the header of $(lastword $(MAKEFILE_LIST))))
endif
	@echo "fleet: $(words $(SOURCES)) pair(s) verified and repaired; outputs in $(WORK)/$(NIGHT)/"

help: ## This list, and the variables in the file's header
	@sed -n 's/^# \{0,1\}//p;/^$$/q' $(lastword $(MAKEFILE_LIST))

# One pair: its three stages in order. Each is resumable through its checkpoint.
pair/%: DIR = $(WORK)/$(NIGHT)/$*
pair/%: REPLICA = $(call replica_of,$*)
pair/%: FROM_ENDPOINT = $(if $(filter-out $(REPLICA_ENDPOINT),$(SOURCE_ENDPOINT)),\
                          --from-endpoint-url $(SOURCE_ENDPOINT))
pair/%: FORCE
	@mkdir -p $(DIR)
	$(BIN)/s3-manifest s3://$*$(PREFIX) -o $(DIR)/source.ndjson.gz \
	  --checkpoint $(DIR)/source.ck --no-progress $(call endpoint,$(SOURCE_ENDPOINT)) $(MANIFEST_FLAGS)
	$(BIN)/s3-check s3://$(REPLICA)$(PREFIX) -i $(DIR)/source.ndjson.gz -o $(DIR)/check.ndjson.gz \
	  --checkpoint $(DIR)/check.ck --no-progress $(NOT_OK:%=--status %) \
	  $(call endpoint,$(REPLICA_ENDPOINT)) $(CHECK_FLAGS) || [ $$? -eq 1 ]
	$(BIN)/s3-repair s3://$(REPLICA)$(PREFIX) --from s3://$*$(PREFIX) -i $(DIR)/check.ndjson.gz \
	  -o $(DIR)/repair.ndjson.gz --checkpoint $(DIR)/repair.ck --no-progress \
	  $(call endpoint,$(REPLICA_ENDPOINT)) $(FROM_ENDPOINT) $(REPAIR_FLAGS)

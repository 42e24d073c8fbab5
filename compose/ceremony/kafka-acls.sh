#!/bin/sh
# What each Kafka user may do: General's device gateway writes readings only;
# ingest reads them (group ehr-ingest*), writes refusals to the dead-letter
# topic, and may create those two topics.
#   kafka-acls.sh <secrets folder> <public folder>
set -eu
secrets=$1 public=$2
umask 077
cat >/tmp/admin.properties <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat "$secrets/admin.password")";
ssl.truststore.type=PEM
ssl.truststore.location=$public/ca.pem
PROPERTIES
acl() { /opt/kafka/bin/kafka-acls.sh --bootstrap-server kafka:9093 --command-config /tmp/admin.properties --add "$@"; }
acl --allow-principal User:device-gateway --operation Write --topic ehr.readings
acl --allow-principal User:ingest --operation Read --operation Create --topic ehr.readings
acl --allow-principal User:ingest --operation Write --operation Create --topic ehr.readings.dead-letter
acl --allow-principal User:ingest --operation Read --group ehr-ingest --resource-pattern-type prefixed
echo "kafka: ACLs granted"

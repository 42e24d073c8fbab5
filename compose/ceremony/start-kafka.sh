#!/bin/sh
# Apache Kafka (KRaft, one node) taking clients only over TLS with a SCRAM
# login, authorizing them by ACLs; its controller listener TLS both ways.
# The users are written into the metadata log when the storage is formatted.
#   start-kafka.sh <secrets folder> <tls folder> <public folder>
set -eu
secrets=$1 tls=$2 public=$3
data=/var/lib/kafka/data
password() { cat "$secrets/$1.password"; }
umask 077
cat "$tls/kafka.key" "$tls/kafka.pem" >/tmp/keystore.pem
cat >/tmp/server.properties <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@kafka:9094
listeners=SASL_SSL://:9093,CONTROLLER://:9094
advertised.listeners=SASL_SSL://kafka:9093
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$(password broker)";
ssl.keystore.type=PEM
ssl.keystore.location=/tmp/keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$public/ca.pem
listener.name.controller.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([^,]+).*\$/\$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:broker;User:kafka;User:admin
allow.everyone.if.no.acl.found=false
log.dirs=$data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# Readings wait here only until ingest has stored them.
log.retention.hours=24
PROPERTIES
if [ ! -f "$data/meta.properties" ]; then
  /opt/kafka/bin/kafka-storage.sh format -t "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" \
    -c /tmp/server.properties \
    --add-scram "SCRAM-SHA-512=[name=broker,password=$(password broker)]" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$(password admin)]" \
    --add-scram "SCRAM-SHA-512=[name=ingest,password=$(password ingest)]" \
    --add-scram "SCRAM-SHA-512=[name=device-gateway,password=$(password device-gateway)]"
fi
exec /opt/kafka/bin/kafka-server-start.sh /tmp/server.properties

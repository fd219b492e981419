#!/bin/sh
# The same rules as mosquitto-acl.conf with mosquitto's dynamic-security
# plugin (mosquitto >= 2.0; plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so
# or the arm64 path on a Pi), managed at run time with mosquitto_ctrl.
# First, once, before the broker starts with the plugin:
#   mosquitto_ctrl dynsec init /var/lib/mosquitto/dynamic-security.json admin
# and in mosquitto.conf:
#   plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so
#   plugin_opt_config_file /var/lib/mosquitto/dynamic-security.json
# Then, against the running broker:
#   BOARDS="floor1 floor2" ADMIN_USER=admin ADMIN_PASS=... ./mosquitto-dynsec.sh
# MQTT_HOST/MQTT_PORT name the broker (default localhost:1883). mosquitto_ctrl
# prompts for each new client's password, unless PASSWORD_DIR holds a file
# per user (PASSWORD_DIR/floor1, ...; for automation: the password is then
# on mosquitto_ctrl's command line). tests/integration/test_dynsec.py runs
# this script as it is.
set -eu
ctl() {
	mosquitto_ctrl -h "${MQTT_HOST:-localhost}" -p "${MQTT_PORT:-1883}" \
		-u "$ADMIN_USER" -P "$ADMIN_PASS" dynsec "$@"
}
new_client() {
	if [ -n "${PASSWORD_DIR:-}" ]; then
		ctl createClient "$1" -p "$(head -n1 "$PASSWORD_DIR/$1")"
	else
		ctl createClient "$1"
	fi
}

# Roles. %c in a dynsec ACL is the client id: boards connect with the
# default client id teamboard-<board>, so per-board roles are explicit.
ctl createRole backend
ctl addRoleACL backend publishClientSend 'helpdesk/+/events' allow
ctl addRoleACL backend subscribePattern 'teamboard/+/acks' allow
ctl addRoleACL backend subscribePattern 'teamboard/+/escalations' allow
ctl addRoleACL backend subscribePattern 'teamboard/+/status' allow

ctl createRole teamboard-admin
ctl addRoleACL teamboard-admin publishClientSend 'teamboard/+/cmd/#' allow
ctl addRoleACL teamboard-admin subscribePattern 'teamboard/#' allow

board_role() {
	ctl createRole "board-$1"
	ctl addRoleACL "board-$1" publishClientSend "teamboard/$1/#" allow
	ctl addRoleACL "board-$1" subscribePattern "teamboard/$1/cmd/#" allow
	ctl addRoleACL "board-$1" subscribePattern 'teamboard/all/cmd/#' allow
	ctl addRoleACL "board-$1" subscribePattern 'helpdesk/+/events' allow
	new_client "$1"
	ctl addClientRole "$1" "board-$1"
}

new_client backend
ctl addClientRole backend backend
new_client admin-anna
ctl addClientRole admin-anna teamboard-admin
for board in ${BOARDS:-${BOARD:-floor2}}; do
	board_role "$board"
done
# Anything not allowed above is denied.
ctl setDefaultACLAccess publishClientSend deny
ctl setDefaultACLAccess subscribe deny

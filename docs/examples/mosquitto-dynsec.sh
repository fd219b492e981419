#!/bin/sh
# The same rules as mosquitto-acl.conf with mosquitto's dynamic-security
# plugin (mosquitto >= 2.0; plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so
# or the arm64 path on a Pi), managed at run time with mosquitto_ctrl.
# Usage: BOARD=floor2 ADMIN_USER=admin ADMIN_PASS=... ./mosquitto-dynsec.sh
# (mosquitto_ctrl prompts for each new client's password.)
set -eu
ctl() { mosquitto_ctrl -u "$ADMIN_USER" -P "$ADMIN_PASS" dynsec "$@"; }

# Roles. %c in a dynsec ACL is the client id: boards connect with the
# default client id teamboard-<board>, so per-board roles are explicit.
ctl createRole backend
ctl addRoleACL backend publishClientSend 'helpdesk/+/events' allow
ctl addRoleACL backend subscribePattern 'teamboard/+/acks' allow
ctl addRoleACL backend subscribePattern 'teamboard/+/escalations' allow

ctl createRole teamboard-admin
ctl addRoleACL teamboard-admin publishClientSend 'teamboard/+/cmd/#' allow
ctl addRoleACL teamboard-admin subscribePattern 'teamboard/#' allow

board_role() {
	ctl createRole "board-$1"
	ctl addRoleACL "board-$1" publishClientSend "teamboard/$1/#" allow
	ctl addRoleACL "board-$1" subscribePattern "teamboard/$1/cmd/#" allow
	ctl addRoleACL "board-$1" subscribePattern 'teamboard/all/cmd/#' allow
	ctl addRoleACL "board-$1" subscribePattern 'helpdesk/+/events' allow
	ctl createClient "$1"
	ctl addClientRole "$1" "board-$1"
}

ctl createClient backend
ctl addClientRole backend backend
ctl createClient admin-anna
ctl addClientRole admin-anna teamboard-admin
board_role "${BOARD:-floor2}"
# Anything not allowed above is denied.
ctl setDefaultACLAccess publishClientSend deny
ctl setDefaultACLAccess subscribe deny

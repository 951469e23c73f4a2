#!/bin/sh
# Entrypoint of emdocker-lkl. embctl runs containers as the invoking user's
# uid:gid, which has no passwd entry in the image ("I have no name!"); whoami,
# ssh, git and some build scripts look the user up. Add the entry (name from
# EMBCTL_USER, which embctl sets from the host), then exec the command: with
# --init, docker-init stays PID 1 and forwards signals straight to the command,
# whose exit status, stdin and terminal are untouched.
uid=$(id -u)
gid=$(id -g)
if [ "$uid" != 0 ] && [ -w /etc/passwd ] && ! getent passwd "$uid" >/dev/null; then
    name=${EMBCTL_USER:-}
    case $name in
        '' | -* | *[!A-Za-z0-9._-]*) name=user$uid ;;
    esac
    if getent passwd "$name" >/dev/null; then
        name=user$uid
    fi
    if [ -w /etc/group ] && ! getent group "$gid" >/dev/null; then
        group=$name
        if getent group "$group" >/dev/null; then
            group=group$gid
        fi
        echo "$group:x:$gid:" >>/etc/group
    fi
    echo "$name:x:$uid:$gid:$name (embctl):${HOME:-/tmp/home}:/bin/bash" >>/etc/passwd
fi
exec "$@"

#!/bin/sh
# Writes, on stdout, the remediation rows for every mailbox of a dvsim
# organisation: what an administrator would list for a clean-up of the
# whole organisation. Reads dvsim's state (GET /_sim/state, or --dump) on
# stdin. input/demo.csv was written with it from
#   dvsim --generate 500 --seed 42   (the default problem mix)
#
# Columns: mailbox (the address), name (carried through to the results),
# actions (empty: the job's defaults; queues get their own list: a queue
# has no security role to grant to), profile (empty: the job's default,
# Exchange Online; a mailbox on an on-premises profile keeps its profile),
# act (queues synchronise email only), role (the user's security role, the
# one grant_privileges completes).
set -eu
jq -r '
  .entities as $e
  | ($e.roles | map({key: .roleid, value: .name}) | from_entries) as $role
  | ($e.systemuserrolescollection
     | map({key: .systemuserid, value: $role[.roleid]}) | from_entries) as $urole
  | ($e.emailserverprofiles | map({key: .emailserverprofileid, value: .})
     | from_entries) as $prof
  | ($e.queues | map({key: .queueid, value: 1}) | from_entries) as $queue
  | ["mailbox", "name", "actions", "profile", "act", "role"],
    ($e.mailboxes[]
     | select(.emailaddress != null)
     | ($prof[._emailserverprofile_value // ""]) as $p
     | ($queue[._regardingobjectid_value] != null) as $isq
     | [ .emailaddress,
         .name,
         (if $isq then "fix_owner;set_profile;set_delivery;approve;test_enable"
          else "" end),
         (if $p != null and $p.servertype == 0 then $p.name else "" end),
         (if $isq then "none" else "" end),
         (if $isq then "" else ($urole[._regardingobjectid_value] // "") end)
       ])
  | map(tostring | if test("[,\"\n]") then "\"" + gsub("\""; "\"\"") + "\"" else . end)
  | join(",")'

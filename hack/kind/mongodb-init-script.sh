#!/usr/bin/env bash
# Print the mongosh script that hack/kind/up.sh runs in mongodb-0. It is a prelude with the
# platform's roles and users (hack/stack/mongodb/platform-users.json), the administrator, the
# members and the passwords, followed by hack/kind/mongodb-init.js.
#
#   mongodb-init-script.sh ADMIN_USER MEMBER... < lines of "USER PASSWORD"
#
# The passwords come on stdin, never as arguments. They must be letters and digits only (up.sh
# generates them so), which keeps them safe in JSON and in a URI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
users_file="$here/../stack/mongodb/platform-users.json"
die() { printf 'mongodb-init-script.sh: %s\n' "$*" >&2; exit 1; }

[ "$#" -ge 2 ] || die "usage: mongodb-init-script.sh ADMIN_USER MEMBER... < 'USER PASSWORD' lines"
admin="$1"
shift

printf 'const platformUsers = %s;\n' "$(cat "$users_file")"
printf 'const adminUser = "%s";\n' "$admin"
printf 'const members = ['
printf '"%s", ' "$@"
printf '];\n'
printf 'const passwords = {'
while read -r user password; do
  [ -n "$user" ] || continue
  [[ "$user" =~ ^[a-z0-9-]+$ ]] || die "unexpected user name: $user"
  [[ "$password" =~ ^[A-Za-z0-9]+$ ]] || die "the password of $user is missing or holds characters other than letters and digits"
  printf '"%s": "%s", ' "$user" "$password"
done
printf '};\n'
cat "$here/mongodb-init.js"

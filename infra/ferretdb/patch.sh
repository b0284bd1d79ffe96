#!/usr/bin/env bash
# Patch FerretDB 1.24.2's SQLite backend in a vendored copy so lookups by _id use the _id index.
#
# Upstream bug (1.24.2): the unique _id index is created on the expression _ferretdb_sjson->"_id", but
# queries, updates and deletes filter on _ferretdb_sjson->'$._id'. SQLite only uses an expression index
# when the expression is written the same way, so every lookup by _id was a SCAN of the whole table
# (63 ms p50 at 20,000 documents of 3 kB; an update by {_id, _v} 879 ms). Both are the same JSON path
# (SQLite treats a bare label on the right of -> as '$.label'), so we write the query side like the index.
#
# Second change: push the _id equality down even when the filter has other keys ({_id, _v}: our optimistic
# version check). FerretDB re-applies the whole filter in Go to every row the backend returns (find,
# update, findAndModify, delete, count, aggregate), so the pushed-down _id is only a pre-filter; upstream
# left this as a TODO (FerretDB issue 3235).
#
# Usage: patch.sh <vendor dir>. Fails loudly if the upstream text is not what we expect.
set -euo pipefail
S="$1/github.com/FerretDB/FerretDB/internal/backends/sqlite"
meta="$S/metadata/metadata.go"
coll="$S/collection.go"
[[ -f "$meta" && -f "$coll" ]] || { echo "patch.sh: $S not found (vendoring failed?)" >&2; exit 1; }
chmod -R u+w "$S"
grep -q "IDColumn = DefaultColumn + \"->'\$._id'\"" "$meta" || { echo "patch.sh: unexpected $meta" >&2; exit 1; }
sed -i "s|IDColumn = DefaultColumn + \"->'\$._id'\"|IDColumn = DefaultColumn + \`->\"_id\"\`|" "$meta"
[[ "$(grep -c 'if params.Filter.Len() == 1 {' "$coll")" == 2 ]] || { echo "patch.sh: unexpected $coll" >&2; exit 1; }
sed -i 's|if params.Filter.Len() == 1 {|if params.Filter.Len() >= 1 {|' "$coll"
grep -q 'IDColumn = DefaultColumn + `->"_id"`' "$meta"
[[ "$(grep -c 'if params.Filter.Len() >= 1 {' "$coll")" == 2 ]]

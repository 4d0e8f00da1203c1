# Stands in for `npm ci`: one folder per locked dependency, a moment's work each.
set -eu
while read -r name version; do
  echo "installing $name@$version"
  mkdir -p "deps/$name"
  echo "$name $version" > "deps/$name/VERSION"
  sleep 1
done < deps.lock

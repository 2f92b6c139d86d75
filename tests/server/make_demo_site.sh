#!/usr/bin/env bash
# tests/server/make_demo_site.sh -- builds the demo crawl: the Office of
# Environmental Data site (seeds/examples/site/) with its placeholders filled
# in and its large datasets generated, the second host's files, and the seed
# sheet.
#
#   make_demo_site.sh OUT SITE DATA_HOST
#
# SITE and DATA_HOST are the host:port of two testserver instances, e.g.
# 127.0.0.1:40123 and 127.0.0.1:40124. It writes
#   OUT/site/   served by the first: {{SITE}} and {{DATA_HOST}} replaced,
#               plus the generated CSV files and the ZIP under data/
#   OUT/data/   served by the second: exports/tree_canopy_2021.csv, the one
#               dataset the site links on another host
#   OUT/demo.csv  seeds/examples/demo.csv with {{SITE}} replaced
# The servers read files per request, so start them first on the (empty)
# folders, then run this with the ports from their --port-file:
#   mkdir -p out/site out/data
#   testserver --root out/site --port-file out/site.port &
#   testserver --root out/data --port-file out/data.port &
#   make_demo_site.sh out 127.0.0.1:$(cat out/site.port) 127.0.0.1:$(cat out/data.port)
# Generated files are deterministic (own PRNG in awk, fixed ZIP timestamps):
# the same bytes on every machine. Needs awk and zip (or python3).
set -euo pipefail

if [ $# -ne 3 ]; then
	echo "usage: make_demo_site.sh OUT SITE_HOST:PORT DATA_HOST:PORT" >&2
	exit 2
fi
out=$1 site=$2 data_host=$3
for hp in "$site" "$data_host"; do
	if ! [[ $hp =~ ^[A-Za-z0-9.-]+:[0-9]+$ ]]; then
		echo "make_demo_site.sh: '$hp' is not HOST:PORT" >&2
		exit 2
	fi
done
repo=$(cd "$(dirname "$0")/../.." && pwd)
src=$repo/seeds/examples/site

mkdir -p "$out/site" "$out/data"
# Empty the folders but keep them: a server may already serve them.
find "$out/site" "$out/data" -mindepth 1 -delete
cp -R "$src/." "$out/site/"
find "$out/site" -type f \( -name '*.html' -o -name '*.xml' -o -name '*.txt' \) \
	-exec sed -i -e "s/{{SITE}}/$site/g" -e "s/{{DATA_HOST}}/$data_host/g" {} +
sed "s/{{SITE}}/$site/g" "$repo/seeds/examples/demo.csv" >"$out/demo.csv"

d=$out/site/data
# Shared awk: a Park-Miller PRNG (exact in doubles, so mawk and gawk agree)
# and calendar helpers. Only + - * / and printf: no libm, same output anywhere.
lib='
function rnd() { seed = (seed * 16807) % 2147483647; return seed / 2147483647 }
function days(y, m) { return m == 2 ? (y % 4 == 0 ? 29 : 28) : (m == 4 || m == 6 || m == 9 || m == 11 ? 30 : 31) }
'

# Daily air quality, 2021-2023, one row per station and day (~2 MB).
awk -F, "$lib"'
BEGIN { seed = 2021; split("1.6 1.4 1.1 0.8 0.7 0.8 1.0 1.1 0.9 0.9 1.2 1.5", winter, " ")
	split("0.6 0.7 0.8 0.9 1.0 1.2 1.3 1.3 1.1 0.9 0.7 0.6", summer, " ") }
NR > 1 { id[++n] = $1; county[n] = $3 }
END {
	print "date,station_id,county,pm25_ugm3,ozone_ppb,no2_ppb,aqi,qc_flag"
	for (y = 2021; y <= 2023; y++) for (m = 1; m <= 12; m++) for (dd = 1; dd <= days(y, m); dd++)
	for (i = 1; i <= n; i++) {
		r = rnd()
		if (r < 0.012) { printf "%d-%02d-%02d,%s,%s,,,,,M\n", y, m, dd, id[i], county[i]; continue }
		pm = winter[m] * (4 + 9 * rnd()) + (rnd() < 0.03 ? 40 * rnd() : 0)
		o3 = summer[m] * (25 + 25 * rnd())
		no2 = winter[m] * (5 + 20 * rnd())
		aqi = pm <= 12 ? pm * 50 / 12 : pm <= 35.4 ? 51 + (pm - 12.1) * 49 / 23.3 : 101 + (pm - 35.5) * 49 / 19.9
		printf "%d-%02d-%02d,%s,%s,%.1f,%.1f,%.1f,%d,%s\n", y, m, dd, id[i], county[i], pm, o3, no2, int(aqi + 0.5),
		       r < 0.03 ? "E" : "V"
	}
}' "$src/data/monitoring_stations.csv" >"$d/air_quality_daily_2021_2023.csv"

# Hourly river gauges, 1 July - 28 October 2023 (~1.3 MB).
awk "$lib"'
BEGIN {
	seed = 2023; n = split("Alder River,Birch Creek,Cedar River,Dogwood Creek,Elm River,Fir Creek,Hemlock River,Juniper Creek,Larch River,Maple River", river, ",")
	for (g = 1; g <= n; g++) { stage[g] = 0.8 + 1.5 * rnd(); base[g] = stage[g] }
	print "timestamp,gauge_id,river,stage_m,discharge_m3s,status"
	m = 7; dd = 1
	for (day = 0; day < 120; day++) {
		for (h = 0; h < 24; h++) for (g = 1; g <= n; g++) {
			if (rnd() < 0.002) stage[g] += 0.4 + 1.2 * rnd()          # a storm
			stage[g] = base[g] + (stage[g] - base[g]) * 0.97 + 0.01 * (rnd() - 0.5)
			q = 6 * stage[g] * stage[g] * (1 + 0.02 * (rnd() - 0.5))
			printf "2023-%02d-%02dT%02d:00,RG%02d,%s,%.3f,%.2f,%s\n", m, dd, h, g, river[g], stage[g], q, day < 60 ? "A" : "P"
		}
		if (++dd > days(2023, m)) { dd = 1; m++ }
	}
}' >"$d/river_gauges_hourly_2023.csv"

# Fortnightly water samples at 40 sites, 2023 (~55 KB).
awk "$lib"'
BEGIN {
	seed = 40; s = 0
	print "sample_id,site_id,date,temp_c,do_mgl,ph,cond_uscm,nitrate_mgl,tp_ugl"
	for (k = 0; k < 26; k++) {
		doy = 3 + 14 * k; m = 1
		while (doy > days(2023, m)) { doy -= days(2023, m); m++ }
		warm = (m >= 5 && m <= 9) ? 1 : 0
		for (site = 1; site <= 40; site++) {
			t = 4 + 14 * warm + 6 * rnd()
			printf "WQ2023-%04d,%s%02d,2023-%02d-%02d,%.1f,%.1f,%.2f,%d,%.2f,%d\n", ++s, site <= 15 ? "LK" : "RV",
			       site, m, doy, t, 13 - 0.25 * t + rnd(), 6.8 + 1.4 * rnd(), 120 + int(400 * rnd()),
			       0.1 + 2.5 * rnd() * rnd(), 8 + int(90 * rnd() * rnd())
		}
	}
}' >"$d/water_quality_samples_2023.csv"

# The emissions inventory: a ZIP of two CSV files and a README.
zdir=$(mktemp -d)
trap 'rm -rf "$zdir"' EXIT
(cd "$zdir" && awk "$lib"'
BEGIN {
	seed = 2022
	split("Alder Birch Cedar Dogwood Elm Fir Hemlock Juniper Larch Maple", county, " ")
	split("cement,power,paper,chemicals,refinery,food processing,metals,waste", sector, ",")
	split("NOX SO2 CO PM10 PM25 VOC NH3 PB", pol, " ")
	print "facility_id,facility_name,county,sector" >"facilities_2022.csv"
	print "facility_id,pollutant,tons" >"emissions_2022.csv"
	for (f = 1; f <= 300; f++) {
		c = county[1 + int(10 * rnd())]; sc = sector[1 + int(8 * rnd())]
		printf "F%05d,%s %s plant %d,%s,%s\n", 10000 + f, c, sc, f, c, sc >"facilities_2022.csv"
		scale = 5 + 400 * rnd() * rnd()
		for (p = 1; p <= 8; p++)
			printf "F%05d,%s,%.2f\n", 10000 + f, pol[p], p == 8 ? scale * 0.0004 * rnd() : scale * rnd() >"emissions_2022.csv"
	}
}' </dev/null)
cat >"$zdir/README.txt" <<'EOF'
Facility emissions inventory, 2022 -- Office of Environmental Data

facilities_2022.csv  facility_id, facility_name, county, sector
emissions_2022.csv   facility_id, pollutant (NOX SO2 CO PM10 PM25 VOC NH3 PB), tons (short tons per year)

Reported by permitted facilities; reviewed by the Office. Open data license, attribution required.
EOF
zip_files=(README.txt facilities_2022.csv emissions_2022.csv)
(
	cd "$zdir"
	TZ=UTC touch -d '2023-06-30 12:00:00' "${zip_files[@]}"
	if command -v zip >/dev/null; then
		TZ=UTC zip -X -q -D emissions_inventory_2022.zip "${zip_files[@]}"
	else
		python3 - "${zip_files[@]}" <<'EOF'
import sys, zipfile
with zipfile.ZipFile("emissions_inventory_2022.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for name in sys.argv[1:]:
        info = zipfile.ZipInfo(name, (2023, 6, 30, 12, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, open(name, "rb").read())
EOF
	fi
)
mv "$zdir/emissions_inventory_2022.zip" "$d/"

# The second host: the tree canopy dataset (~30 KB) and little else.
mkdir -p "$out/data/exports"
awk "$lib"'
BEGIN {
	seed = 2021; split("Alder Birch Cedar Dogwood Elm Fir Hemlock Juniper Larch Maple", county, " ")
	print "tract,county,land_km2,canopy_pct,impervious_pct"
	for (c = 1; c <= 10; c++) for (t = 1; t <= 90; t++) {
		canopy = 5 + 55 * rnd()
		printf "41%03d%06d,%s,%.2f,%.1f,%.1f\n", 2 * c - 1, 100 * t, county[c], 0.5 + 30 * rnd() * rnd(), canopy,
		       (100 - canopy) * (0.2 + 0.6 * rnd())
	}
}' >"$out/data/exports/tree_canopy_2021.csv"
cat >"$out/data/index.html" <<'EOF'
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Regional Data Cooperative</title></head>
<body><h1>Regional Data Cooperative</h1><p>File exports for partner agencies.</p></body></html>
EOF
printf 'User-agent: *\nDisallow:\n' >"$out/data/robots.txt"

echo "demo site:   $out/site ($(find "$out/site" -type f | wc -l) files) for http://$site/"
echo "second host: $out/data for http://$data_host/"
echo "seed sheet:  $out/demo.csv"

#!/usr/bin/env bash
# make-photos.sh DIR [N] — synthesise N (default 50) 12 MP JPEG photos with
# rich identifying metadata (EXIF with maker notes, GPS, IPTC, XMP, an EXIF
# thumbnail and an ICC profile) for benchmarking. Needs ImageMagick and
# exiftool. The files are large: generate them outside the repository.
set -euo pipefail
dir=${1:?usage: make-photos.sh DIR [N]}
n=${2:-50}
here=$(cd "$(dirname "$0")" && pwd)
corpus=${CORPUS:-$here/../../../shared/corpus}
rich=$corpus/jpeg/dn_Canon_EOS_7D.jpg      # EXIF + Canon maker notes + IPTC + XMP
gps=$corpus/jpeg/dn_Apple_iPhone_4.jpg      # GPS block
icc=$corpus/jpeg/dn_Multiple_ICC_segments.jpg
for f in "$rich" "$gps" "$icc"; do [ -f "$f" ] || { echo "missing $f (set CORPUS=)" >&2; exit 2; }; done
mkdir -p "$dir"
base=$dir/.base.jpg
if [ ! -f "$base" ]; then
  # Photographic-like content: smooth gradients plus fine noise, 4000x3000.
  convert -size 1000x750 plasma:fractal -blur 0x1 -resize 4000x3000! \
    \( -size 4000x3000 xc:gray50 +noise Gaussian -colorspace gray \) \
    -compose overlay -composite -sampling-factor 2x2 -quality 92 "$base"
  convert "$base" -resize 160x120 "$dir/.thumb.jpg"
  exiftool -q -overwrite_original -tagsfromfile "$rich" -all:all \
    -tagsfromfile "$gps" -gps:all -tagsfromfile "$icc" -icc_profile \
    "-ThumbnailImage<=$dir/.thumb.jpg" -Orientation#=6 \
    -Artist="Bench Photographer" -SerialNumber=1234567890 "$base"
fi
for i in $(seq -w 1 "$n"); do
  f=$dir/photo_$i.jpg
  [ -f "$f" ] || cp "$base" "$f"
done
echo "$dir: $(ls "$dir"/photo_*.jpg | wc -l) photos, $(du -sh "$dir" | cut -f1)"

package report

import (
	"image"
	"image/color"
)

// paletted converts the rendered charts to an 8-bit paletted image,
// which compresses to well under half the size of the RGBA one. The
// palette holds, for each colour the charts use, 20 shades blended
// towards the white background, which is what anti-aliasing produces;
// every pixel takes the nearest palette colour, without dithering (which
// would add noise and bytes).
func paletted(img image.Image) *image.Paletted {
	inks := []color.RGBA{
		{0, 0, 0, 0xff}, {80, 80, 80, 0xff}, {120, 120, 120, 0xff}, {225, 225, 225, 0xff},
	}
	inks = append(inks, seriesColors...)
	pal := color.Palette{color.White}
	const steps = 20
	for _, c := range inks {
		for s := 1; s <= steps; s++ {
			mix := func(v uint8) uint8 { return uint8(255 - (255-int(v))*s/steps) }
			pal = append(pal, color.RGBA{mix(c.R), mix(c.G), mix(c.B), 0xff})
		}
	}
	pal = pal[:min(len(pal), 256)]

	b := img.Bounds()
	out := image.NewPaletted(b, pal)
	// Most pixels share a few colours; remember each one's index.
	cache := make(map[color.RGBA]uint8)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			i, ok := cache[c]
			if !ok {
				i = uint8(pal.Index(c))
				cache[c] = i
			}
			out.Pix[out.PixOffset(x, y)] = i
		}
	}
	return out
}

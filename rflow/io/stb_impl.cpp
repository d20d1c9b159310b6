// The single translation unit that compiles stb_image and stb_image_write (header-only libraries);
// kept free of LibTorch so it builds without the precompiled header.
// Only the formats image folders hold (.png, .jpg, .bmp): every other decoder is attack surface
// with no user (fuzzing found undefined behaviour in stb's PNM header parser).
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#include <stb_image_write.h>

// The single translation unit that compiles stb_image and stb_image_write (header-only libraries);
// kept free of LibTorch so it builds without the precompiled header.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#include <stb_image_write.h>

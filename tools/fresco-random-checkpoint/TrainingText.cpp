//===- TrainingText.cpp - Built-in English text for random tokenizers -----===//
//
// Prompt-like sentences written for this tool. The CLIP merges and the T5
// SentencePiece model of a random pipeline are learnt from them, so a demo
// prompt in plain English splits into word-sized pieces, as real tokenizers
// split it, rather than into single letters.
//
//===----------------------------------------------------------------------===//
#include "TrainingText.h"

namespace fresco::randomckpt {

const char *const kTrainingText =
    R"(a photo of a cat sitting on a wooden table next to a window
a photograph of an astronaut riding a horse on mars, highly detailed, sharp focus
an oil painting of a lighthouse on a rocky coast during a storm at night
a watercolor painting of a small village in the mountains covered in snow
a portrait of an old fisherman with a grey beard, dramatic lighting, 35mm film
a cozy living room with a fireplace, warm colors, soft morning light
a red sports car driving through a desert road at sunset, cinematic
a bowl of fresh fruit on a kitchen counter: apples, oranges, bananas and grapes
a futuristic city skyline with flying cars and neon signs, cyberpunk style
a golden retriever puppy playing in the grass with a blue ball
a medieval castle on a hill surrounded by a forest and a river
a close up of a butterfly resting on a purple flower, macro photography
an ancient temple in the jungle overgrown with vines and moss
a steaming cup of coffee and a croissant on a marble table in a cafe
a sailing boat on a calm lake reflecting the clouds and the trees
a busy street market in the evening with lanterns and food stalls
a snowy owl flying over a frozen field under a pale winter sky
the interior of a library with tall shelves full of old books
a robot reading a newspaper on a park bench, digital art
a bright yellow sunflower field under a clear blue summer sky
a black and white photograph of a train station in the rain
a fantasy dragon sleeping on a pile of gold coins inside a cave
a modern kitchen with white cabinets, stainless steel appliances and plants
a child flying a kite on the beach on a windy afternoon
a mountain landscape with a turquoise lake and pine trees, wide angle
a plate of spaghetti with tomato sauce, basil and parmesan cheese
an abstract painting with bold shapes and vibrant colors
a tiger walking through tall grass in the early morning mist
a vintage bicycle leaning against a brick wall covered with ivy
a spaceship landing on a distant planet with two moons in the sky
a bakery window full of bread, cakes, cookies and pastries
a quiet forest path in autumn with orange and red leaves on the ground
a jazz musician playing the saxophone in a dark smoky club
a hot air balloon floating above green hills at sunrise
an underwater scene with coral reefs, colorful fish and a sea turtle
a glass of red wine next to a candle on a dinner table
a group of friends laughing around a campfire under the stars
a majestic waterfall in a tropical rainforest, long exposure
a wooden cabin by a frozen lake with smoke rising from the chimney
a stained glass window in a gothic cathedral glowing in the light
a street cat sleeping in the sun on the steps of an old house
a chef cooking in a restaurant kitchen with flames rising from the pan
a field of lavender in provence with a stone farmhouse in the distance
a lonely tree on a hill under a starry night sky, the milky way
a pencil sketch of a young woman reading a letter by candlelight
an elephant family crossing a dusty savanna at golden hour
a cup of tea, a notebook and a pair of glasses on a desk
a knight in shining armor holding a sword in front of a castle gate
a rainy city street at night with reflections of neon lights on the wet road
a small wooden boat tied to a dock on a misty morning
a bouquet of roses and tulips in a glass vase on a windowsill
a penguin colony on an icy shore in antarctica
a surreal landscape with floating islands and giant clocks
a farmer driving a tractor across a wheat field before the harvest
a neon sign that says open above the door of a diner
a pirate ship sailing through a storm with lightning in the sky
a herd of horses running across a meadow with mountains behind them
a detailed map of an imaginary kingdom drawn on old paper
a young girl holding an umbrella while walking her dog in the rain
a hummingbird drinking nectar from a bright red flower
a cozy bedroom with a large bed, soft pillows and fairy lights
a busy airport terminal with travelers and departure screens
a bridge over a river in a city at dusk with the lights turning on
a fox curled up asleep in the snow under a pine tree
a still life of a violin, sheet music and a vase of dried flowers
a beautiful garden with a fountain, hedges and blooming roses
a skateboarder doing a trick in an empty swimming pool
a panda eating bamboo in a green forest, national geographic
a table set for a holiday dinner with candles and decorations
a lighthouse keeper looking at the sea through a telescope
a rocket launching into the sky leaving a trail of smoke and fire
a cat wearing a tiny hat and a bow tie, studio portrait
a desert oasis with palm trees and camels at sunset
a small town main street in the fifties with classic cars
a polar bear standing on an ice floe in the arctic ocean
a chess board with wooden pieces in the middle of a game
an aerial view of a winding river through green farmland
a cyclist racing down a mountain road, motion blur, action shot
a mysterious door in a stone wall covered with glowing runes
a plate of sushi with salmon, tuna, avocado and rice
a thunderstorm over the plains with a tornado in the distance
a friendly monster made of clouds smiling over a city
a greenhouse full of tropical plants, ferns and orchids
a row of colorful houses along a canal in amsterdam
a wolf howling at the full moon on a snowy ridge
a kitten and a puppy sleeping together on a soft blanket
a concert stage with bright lights and a cheering crowd
a ceramic teapot painted with blue flowers, product photo
a hiker standing on a cliff looking over a valley of clouds
an illustration of a fairy tale forest with mushrooms and tiny houses
a pair of running shoes on a wooden floor, top view
an astronaut floating in space with the earth in the background
a vintage typewriter on a desk with a stack of paper and a lamp
a peacock displaying its feathers in a palace garden
a bright kitchen in the morning with orange juice and pancakes
a river flowing through a canyon with red rock walls
the ruins of a roman amphitheater under a cloudy sky
a dog wearing sunglasses driving a convertible car, funny
a market stall selling spices in many colors, saffron, paprika and cumin
a snowboarder jumping off a ramp in fresh powder snow
a calm sea at dawn with pink and purple clouds on the horizon
a watercolor illustration of a fox reading a book under a tree
a photograph of a quiet street in paris after the rain, 4k, 8k, ultra detailed
a 3d render of a cute robot with big eyes, octane render, unreal engine
an architectural drawing of a modern house with large glass windows
trending on artstation, masterpiece, best quality, high resolution
)";

} // namespace fresco::randomckpt

"""Word pools for the demo story generator: characters, objects, places, times, feelings.

Plain data, read by `workbench.demo.stories`. Every pool is a tuple (or a dict built in a
fixed order) so that a seeded `random.Random.choice` over it is deterministic. Sizes: 80
names, 5 kinds of people and 26 animals, 121 objects across the plots' pools, 46 places
(the tests check at least 60 names, 80 objects and 40 places).
"""

from __future__ import annotations

GIRL_NAMES = (
    "Lily", "Sue", "Mia", "Anna", "Lucy", "Emma", "Ella", "Zoe", "Amy", "Sara", "Kate", "Rose",
    "Ruby", "Daisy", "Molly", "Lola", "Nora", "Ivy", "Grace", "Chloe", "Sophie", "Maya",
    "Jenny", "Lisa", "Jane", "Mary", "Kim", "Tina", "Poppy", "Hannah", "Bella", "Clara", "Eva",
    "Julia", "Nina", "Rosie", "Millie", "Alice", "Hazel", "Pip",
)
BOY_NAMES = (
    "Tom", "Ben", "Max", "Sam", "Jack", "Leo", "Tim", "Jake", "Bob", "Joe", "Finn", "Mark",
    "Ollie", "Charlie", "Billy", "Danny", "Timmy", "Jimmy", "Peter", "Paul", "Luke", "Noah",
    "Eli", "Ryan", "Adam", "Owen", "Theo", "Henry", "Oscar", "Kevin", "Teddy", "Alex", "Ned",
    "Rex", "Jay", "Ted", "Dan", "Sid", "Zack", "Louis",
)
NAMES = {"f": GIRL_NAMES, "m": BOY_NAMES}

PRONOUNS = {
    "f": {"he": "she", "He": "She", "his": "her", "His": "Her", "him": "her", "self": "herself"},
    "m": {"he": "he", "He": "He", "his": "his", "His": "His", "him": "him", "self": "himself"},
}

# (female noun, male noun): people the hero can be.
PEOPLE = (
    ("girl", "boy"), ("girl", "boy"), ("girl", "boy"), ("girl", "boy"), ("princess", "prince"),
    ("kid", "kid"),
)
PEOPLE_ADJ = ("little", "little", "little", "small", "kind", "jolly", "curious", "brave",
              "shy", "young", "clever", "cheerful", "busy", "friendly")
# Animal heroes (anthropomorphic, as in TinyStories).
ANIMALS = (
    "cat", "dog", "bunny", "bear", "mouse", "bird", "duck", "frog", "puppy", "kitten", "fox",
    "squirrel", "owl", "pig", "lamb", "turtle", "elephant", "lion", "monkey", "horse", "cow",
    "goat", "hen", "deer", "panda", "penguin",
)
ANIMAL_ADJ = ("little", "small", "fluffy", "tiny", "brown", "white", "gray", "spotted",
              "jolly", "silly", "furry", "young", "playful", "sleepy", "big", "soft")

# Family helpers: (noun, gender).
FAMILY = (
    ("mom", "f"), ("mom", "f"), ("mom", "f"), ("dad", "m"), ("dad", "m"), ("grandma", "f"),
    ("grandpa", "m"), ("big sister", "f"), ("big brother", "m"), ("aunt", "f"),
    ("uncle", "m"), ("teacher", "f"),
)

# Objects, by what a plot needs.
TOYS = (
    "ball", "doll", "teddy bear", "toy car", "toy train", "robot", "puzzle", "drum",
    "whistle", "yo-yo", "spinning top", "jump rope", "crayon box", "storybook", "toy truck",
    "toy plane", "rag doll", "toy horse", "toy soldier", "music box", "red wagon", "block tower",
    "rubber duck", "toy dinosaur", "puppet", "xylophone", "toy rocket", "bucket", "marble bag",
    "trumpet", "teapot set", "toy boat", "tambourine", "scooter", "bike",
)
TREASURES = (
    "shell", "stone", "feather", "coin", "ring", "necklace", "key", "bell", "button",
    "marble", "star sticker", "hat", "scarf", "blanket", "backpack", "umbrella", "cap",
    "bracelet", "crown", "mitten", "lunch box", "pencil", "paintbrush", "map", "flashlight",
    "watch", "pillow", "sock", "bow", "medal",
)
OBJ_ADJ = (
    "red", "blue", "green", "yellow", "pink", "purple", "orange", "brown", "white", "gold",
    "silver", "shiny", "soft", "little", "big", "old", "new", "pretty", "sparkly", "round",
    "tiny", "special", "bright", "striped", "spotted",
)
FOODS = (
    "cake", "pie", "pizza", "birthday cake", "carrot cake", "cherry pie", "chocolate cake",
    "apple pie", "lemon cake", "pumpkin pie", "honey cake", "berry tart", "loaf of bread",
    "banana cake",
)
FOOD_ADJ = ("big", "sweet", "warm", "yummy", "round", "soft", "tasty", "special")
PLANTS = (
    "sunflower", "rose", "tulip", "tomato", "carrot", "pumpkin", "bean", "daisy",
    "strawberry", "pea", "lily", "apple tree", "melon", "cucumber",
)
PETS = ("dog", "cat", "puppy", "kitten", "bunny", "hamster", "pony", "guinea pig", "goat",
        "piglet")
PET_ADJ = ("playful", "fluffy", "little", "soft", "silly", "clever", "sweet", "lively")
DISTRACT = ("to pick a flower", "to chase a butterfly", "to go down the slide", "to eat a snack",
            "to look at a bug", "to play tag", "to tie {his} shoe", "to watch the ducks",
            "to climb on the rocks", "to drink some water")
PET_NAMES = ("Spot", "Fluffy", "Buddy", "Coco", "Bubbles", "Sunny", "Patch", "Socks",
             "Muffin", "Rocky", "Biscuit", "Pepper", "Ginger", "Snowy", "Bear",
             "Peanut", "Scout", "Honey", "Shadow", "Dot")
KITES = ("kite", "balloon", "paper plane", "kite", "balloon")
BOATS = ("paper boat", "toy boat", "little boat", "wooden boat", "leaf boat")
GIFTS = ("picture", "card", "necklace of beads", "crown of flowers", "clay pot",
         "paper star", "little bracelet", "painted rock", "bunch of flowers")
CLIMBS = ("tall tree", "big hill", "old wall", "high rock", "big slide", "tall ladder")
SNOW = ("snowman", "snow castle", "snow fort", "snow bear", "snow bunny")

PLACES = (
    "park", "forest", "beach", "garden", "farm", "school", "library", "river", "lake",
    "pond", "hill", "meadow", "playground", "zoo", "market", "town square", "backyard",
    "field", "woods", "mountain", "village", "bakery", "toy shop", "museum", "barn",
    "orchard", "valley", "seaside", "street", "yard", "treehouse", "camp", "harbor",
    "bridge", "fair", "circus", "castle", "island", "jungle", "cave", "kitchen", "bedroom",
    "attic", "porch", "sandbox", "swing", "old tree", "flower shop", "big city", "shop",
)
# The preposition a place takes ("at the park", "in the forest", "on the hill").
PLACE_PREP = {p: "at" for p in PLACES}
PLACE_PREP.update({p: "in" for p in (
    "forest", "garden", "meadow", "field", "woods", "backyard", "orchard", "yard", "sandbox",
    "town square", "jungle", "cave", "kitchen", "bedroom", "attic", "village", "big city",
    "valley", "barn", "stream")})
PLACE_PREP.update({p: "on" for p in ("hill", "farm", "mountain", "island", "bridge", "street",
                                     "porch", "swing")})
OUTDOOR = ("park", "forest", "beach", "garden", "farm", "river", "lake", "pond", "hill",
           "meadow", "playground", "field", "woods", "backyard", "orchard", "yard",
           "sandbox", "fair", "market", "town square")
TRIPS = ("beach", "zoo", "farm", "mountain", "lake", "forest", "big city", "fair", "circus",
         "museum", "castle", "island", "seaside", "river", "village", "jungle", "cave")
HOMES_PEOPLE = ("house", "cottage", "yellow house", "town", "village", "cabin", "blue house",
                "city", "white house", "flat")
HOMES_ANIMALS = ("nest", "burrow", "barn", "forest", "hole in a tree", "meadow", "round house",
                 "den", "cave", "bush")
# Landmarks a home can be near ("near the {place2}").
LANDMARKS = ("park", "forest", "beach", "river", "lake", "pond", "hill", "meadow", "farm",
             "school", "library", "zoo", "market", "castle", "mountain", "sea", "woods",
             "village", "bakery", "old mill", "bridge", "harbor", "orchard", "field",
             "toy shop", "flower shop", "old tree", "valley", "barn", "treehouse")
HOME_ADJ = ("small", "cozy", "quiet", "busy", "sunny", "warm", "tiny", "big", "green", "old")

TIMES = ("One day", "One sunny day", "One morning", "One afternoon", "Early one morning",
         "One bright morning", "One warm day", "After breakfast", "One Saturday",
         "On a nice day")
TIMES_WINDY = ("One windy day", "One windy afternoon", "On a breezy morning",
               "One day, when the wind was strong")
TIMES_RAINY = ("One rainy day", "One cloudy afternoon", "One gray morning",
               "One evening, when the sky was dark")
TIMES_WINTER = ("One cold winter day", "One snowy morning", "On a white winter day",
                "One morning, when snow covered the ground")

HOBBIES = (
    "play in the sun", "sing songs", "draw pictures", "run and jump", "dance", "read books",
    "play hide and seek", "look at the stars", "pick flowers", "splash in puddles",
    "build things with blocks", "play with {his} friends", "help {his} mom", "climb trees",
    "chase butterflies", "play in the mud", "watch the birds", "ride {his} bike",
    "make funny faces", "listen to stories", "count the clouds", "play ball",
    "paint with bright colors", "jump in the leaves", "look for bugs",
)
HAPPY_FEELINGS = ("happy", "glad", "excited", "proud", "cheerful", "joyful")
SAD_FEELINGS = ("sad", "upset", "lonely", "unhappy", "gloomy")
TRAITS = ("kind", "funny", "curious", "smart", "gentle", "brave", "playful", "helpful",
          "cheerful", "polite", "clever", "friendly", "busy", "quiet", "silly", "careful")
SCARED_FEELINGS = ("scared", "afraid", "nervous", "worried", "frightened")

CONNECT_THEN = ("Then", "Soon", "After a while", "Next", "A little later", "So")
CONNECT_SUDDEN = ("Suddenly", "All of a sudden", "Just then", "But then")

# Words a story may list in its `Words:` field (base forms, as in TinyStoriesInstruct):
# verbs, nouns and adjectives.
WORD_VERBS = (
    "look", "play", "search", "bake", "plant", "water", "race", "fix", "paint", "climb",
    "jump", "share", "help", "sail", "float", "melt", "wait", "hug", "laugh", "smile",
    "walk", "pull", "push", "call", "shout", "visit", "pick", "dance", "kick",
    "roll", "splash", "wish", "hope", "finish", "open", "clean", "guard", "pack", "want",
    "need", "ask", "listen", "point", "check", "mix", "stir", "love", "like", "live", "learn",
    "start", "turn", "stay", "work", "show", "wave", "hide", "rest", "watch",
    "hold", "run", "go", "see", "come", "make", "find", "fly", "fall", "say", "sit", "get",
    "give", "take", "think", "feel", "know", "hear", "eat", "build", "tell", "sing",
)
# Past tenses that do not end in -ed (a story says "held"; its Words field says "hold").
IRREGULAR_PAST = {
    "hold": "held", "run": "ran", "go": "went", "see": "saw", "come": "came", "make": "made",
    "find": "found", "fly": "flew", "fall": "fell", "say": "said", "sit": "sat", "get": "got",
    "give": "gave", "take": "took", "think": "thought", "feel": "felt", "know": "knew",
    "hear": "heard", "eat": "ate", "build": "built", "tell": "told", "sing": "sang",
}
# Nouns a story may list: the last word of every object, and everyday story nouns.
WORD_NOUNS = tuple(sorted({w.split()[-1] for w in TOYS + TREASURES + FOODS + PLANTS + PETS
                           + KITES + BOATS + GIFTS + CLIMBS + SNOW + ANIMALS + PLACES} | {
    "tree", "sun", "sky", "park", "friend", "house", "water", "bird", "flower", "garden",
    "river", "hill", "rain", "wind", "bench", "grass", "day", "home", "seed", "oven", "race",
    "storm", "gate", "kitchen", "bag", "window", "door", "bed", "box", "leaf", "path", "night",
    "picnic", "story", "morning", "heart", "hand", "eyes", "smile"}))
WORD_ADJECTIVES = tuple(sorted(set(
    OBJ_ADJ + FOOD_ADJ + PEOPLE_ADJ + ANIMAL_ADJ + HAPPY_FEELINGS + SAD_FEELINGS
    + SCARED_FEELINGS + HOME_ADJ + TRAITS
    + ("dark", "loud", "strong", "tall", "high", "fast", "slow", "cold", "wet", "warm",
       "careful", "quiet", "beautiful", "delicious", "lucky", "angry", "sorry"))))

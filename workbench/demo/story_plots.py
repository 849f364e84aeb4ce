"""The plots of the demo story generator, written as beats with alternative wordings.

Plain data, read by `workbench.demo.stories`. A story is built from one plot:

    paragraph 1: generic opening + `setup` (+ `foreshadow`)
    paragraph 2: `problem` + one or two `middle` beats (+ `dialogue`) (+ `conflict`)
    paragraph 3: `happy` / `sad` resolution, or a self-contained `twist_happy` / `twist_sad`
                 (+ `moral_happy` / `moral_sad`) + a closing line (the plot's `close_*` or a
                 generic one from `workbench.demo.stories`)

`dialogue_at` ("before" / "after" the middle beats; anywhere when absent) keeps
dialogue where it makes sense. `mood` says how the problem feels ("good": an outing, "bad": a loss), which picks the
generic feeling line that may follow it. Every beat is a tuple of alternatives; an alternative may hold several sentences, and a
newline in it starts a new paragraph (dialogue lines). Slots (`{N}`, `{his}`, `{obj}`, ...)
are listed in `workbench.demo.stories`. `middle` beats are in story order: when two are
used they keep that order. A plot's `summary` only names what every path of the plot
mentions, and never gives the ending away (the ending is the `With:` half of the prompt).

Rules the tests check over thousands of stories: the last two sentences of a happy story
carry a happy cue and no sad cue, and the reverse for a sad one (so `happy`, `sad`,
`moral_*`, `twist_*` and `close_*` are written with `HAPPY_CUES` / `SAD_CUES` in mind).
"""

from __future__ import annotations

from .story_words import (BOATS, CLIMBS, FOODS, GIFTS, KITES, OUTDOOR, PLANTS, SNOW, TIMES,
                          TIMES_RAINY, TIMES_WINDY, TIMES_WINTER, TOYS, TREASURES, TRIPS)

_BIG_TOYS = {"scooter", "bike", "red wagon", "block tower", "toy boat", "bucket", "teapot set"}
SMALL_THINGS = tuple(t for t in TOYS if t not in _BIG_TOYS) + TREASURES
BREAKABLE = tuple(t for t in TOYS if t not in {"jump rope", "storybook", "rag doll",
                                                 "teddy bear", "puppet", "marble bag"})

# What trip places have to see (the `{sight1}` / `{sight2}` slots of the trip plot).
SIGHTS = {
    "beach": ("big waves", "white shells", "a red crab", "sand castles", "sea birds"),
    "zoo": ("a tall giraffe", "a sleepy lion", "funny monkeys", "a big elephant", "pink birds"),
    "farm": ("fat pigs", "a brown cow", "little chicks", "a red tractor", "a big barn"),
    "mountain": ("tall pine trees", "a cold stream", "white snow on top", "a big eagle",
                 "little goats"),
    "lake": ("ducks", "a long wooden dock", "little fish", "green frogs", "tall reeds"),
    "forest": ("tall trees", "a family of deer", "red mushrooms", "a little stream",
               "a busy squirrel"),
    "big city": ("tall buildings", "busy streets", "a big fountain", "red buses",
                 "bright lights"),
    "fair": ("a big wheel", "pink candy floss", "a merry-go-round", "funny clowns",
             "colorful flags"),
    "circus": ("a juggler", "a clown with a red nose", "dancing dogs", "a big tent",
               "a man on a high rope"),
    "museum": ("old bones of a dinosaur", "shiny old coins", "big paintings", "a tall statue",
               "a model ship"),
    "castle": ("high towers", "a big gate", "an old throne", "long stairs", "flags on the walls"),
    "island": ("palm trees", "soft sand", "colorful fish", "a little boat", "big rocks"),
    "seaside": ("big waves", "a lighthouse", "sea birds", "little boats", "shiny stones"),
    "river": ("fast water", "a wooden bridge", "jumping fish", "a little boat", "tall grass"),
    "village": ("little houses", "a busy market", "a stone well", "a big bell", "a bakery"),
    "jungle": ("big green leaves", "loud parrots", "a slow sloth", "tall vines", "a waterfall"),
    "cave": ("shiny rocks", "little bats", "a dark tunnel", "drops of water", "a cold pool"),
}
assert set(SIGHTS) == set(TRIPS)

PLOTS: dict[str, dict] = {}

PLOTS["lost_toy"] = dict(
    mood="bad",
    obj=SMALL_THINGS, place=OUTDOOR, time=TIMES,
    verb="look",
    summary=(
        "{akind} named {N} who loses {his} {adj} {obj} {at_place}",
        "{N} loses {his} {adj} {obj} {at_place} and looks for it everywhere.",
        "{a_kind} who cannot find {his} {obj}",
        "{N} and a lost {obj}",
    ),
    setup=(
        "{N} had {aobj}. {He} took it everywhere {he} went.",
        "{N}'s favorite thing was {aobj}. {He} loved it very much.",
        "Every day, {N} played with {his} {adj} {obj}. It was {his} favorite thing in the whole world.",
        "{N} kept {his} {adj} {obj} in a little box by {his} bed. {He} looked at it every night.",
    ),
    foreshadow=(
        "{N} did not know that {he} would soon lose it.",
        "Little did {he} know, the {obj} was about to go on an adventure of its own.",
    ),
    problem=(
        "{time}, {N} took the {obj} to the {place}. {He} played and played. When it was time to go home, the {obj} was gone!",
        "{time}, {N} went to the {place} with {his} {obj}. {He} put it down {distract}. When {he} looked back, it was not there.",
        "{time}, {N} and {h} went to the {place}. {N} held the {obj} in {his} hand, but after a while {his} hand was empty.",
    ),
    middle=(
        "{N} looked under the bench. {He} looked behind the trees. {He} looked everywhere.",
        "{H} helped {him} look. They looked high and low, near the flowers and under the leaves.",
        "{N} searched and searched. {He} asked a bird and a frog, but nobody had seen the {obj}.",
        "{He} felt {sad_f}. {H} said they should look one more time, so they walked back along the path.",
    ),
    dialogue=(
        "\"Where is my {obj}?\" {N} asked. \"I can't find it anywhere!\"\n\"Don't worry,\" said {h}. \"We will look together.\"",
        "\"Have you seen my {adj} {obj}?\" {N} asked {h}.\n\"No, but I will help you,\" {hhe} said.",
        "{N} called out, \"{Obj}, where are you?\" But nobody answered.",
    ),
    conflict=(
        "{N} thought {h} had taken it. {He} said so, and {h} got upset. They did not talk for a while.",
        "{N} was cross with {h}. {He} thought {h} had lost the {obj}. They argued until they both felt bad.",
    ),
    twist_happy=(
        "Then {N} heard a funny noise behind a bush. A little puppy came out with the {obj} in its mouth! It had been playing with it all along.",
        "Then {N} put {his} hand in {his} pocket. The {obj} was there all along!",
    ),
    twist_sad=(
        "Then {N} saw the {obj} in the river. The water carried it far, far away, and nobody could reach it.",
        "Then a big crow flew up into the sky with the {obj}. It flew far away, and the {obj} was lost forever.",
    ),
    happy=(
        "At last, {N} found the {obj} under a big leaf. It was safe!",
        "Then {N} saw something {adj} in the grass. It was {his} {obj}!",
        "{H} found the {obj} behind a rock and gave it back to {N}.",
    ),
    sad=(
        "They looked until the sun went down, but the {obj} was lost forever.",
        "But the {obj} was gone. {N} never saw it again.",
        "It got dark, and they had to go home without the {obj}. It was lost forever.",
    ),
    moral_happy=(
        "From that day on, {N} always kept {his} {obj} close.",
        "{N} learned to take good care of the things {he} loves.",
    ),
    moral_sad=(
        "{N} learned that {he} must take care of {his} things, or {he} will lose them.",
        "After that, {N} was always careful with {his} things.",
    ),
    close_happy=(
        "{N} held the {obj} tight and smiled. It was the best day ever.",
        "{He} hugged {his} {obj} and laughed with joy.",
    ),
    close_sad=(
        "{N} cried all the way home. {He} missed {his} {obj} so much.",
        "{He} never saw {his} {adj} {obj} again, and {he} felt very sad.",
    ),
)

PLOTS["trip"] = dict(
    dialogue_at="after",
    mood="good",
    obj=TREASURES, place=TRIPS, time=TIMES,
    verb="visit",
    summary=(
        "{akind} named {N} who goes on a trip to the {place}",
        "{N} visits the {place} with {his} family.",
        "{N} goes to the {place} for the first time.",
        "a trip to the {place}",
    ),
    setup=(
        "{N} had never been to the {place}. {He} wanted to visit it more than anything.",
        "{N} loved to hear stories about the {place}. {He} dreamed about it every night.",
        "{N}'s friends had all been to the {place}, but {N} had not. {He} wished {he} could visit it too.",
    ),
    foreshadow=(
        "{N} did not know that the day would hold a big surprise.",
        "{N} did not know what the day would bring.",
    ),
    problem=(
        "{time}, {h} packed a bag and said they were going to visit the {place}. {N} jumped up and down.",
        "{time}, {N} and {h} got in the car and drove to the {place}. {N} packed {his} {adj} {obj} in {his} bag.",
        "{time}, {h} woke {N} up early. \"Get ready,\" {hhe} said. \"Today we visit the {place}!\"",
    ),
    middle=(
        "The road was long. {N} looked out of the window and counted the trees.",
        "At the {place}, there were so many things to see. {N} saw {sight1} and {sight2}.",
        "{N} walked and walked with {h}. {He} wanted to see everything at once.",
    ),
    dialogue=(
        "\"Look at that!\" {N} said, pointing at {sight1}.\n\"Wow,\" said {h}. \"I have never seen that before.\"",
        "\"Can we stay here forever?\" {N} asked.\n\"Maybe not forever,\" said {h}, \"but we can stay all day.\"",
    ),
    conflict=(
        "{N} wanted to see {sight1}, but {h} wanted to see {sight2}. They could not agree, and both of them felt grumpy.",
    ),
    twist_happy=(
        "Then they found a little hidden path. It led to the most beautiful spot of all, and they watched the sun go down together.",
    ),
    twist_sad=(
        "Then {N} saw that {his} {obj} was not in {his} bag anymore. {He} had left it somewhere {at_place}, and it was lost forever.",
    ),
    happy=(
        "They stayed until the sun went down. {N} saw everything {he} wanted to see.",
        "They had a picnic and played games together. {N} saw {sight2} up close.",
    ),
    sad=(
        "Then it started to rain. Big, cold drops fell on {N}'s head, and they had to go home early.",
        "But {N} got lost in the crowd. By the time {h} reached {him}, it was time to go home, and {he} had seen nothing at all.",
        "When they got there, the {place} was closed. They had to drive all the way back home.",
    ),
    moral_happy=("{N} learned that new places can be full of wonderful surprises.",),
    moral_sad=("{N} learned that things do not always go the way we plan.",),
    close_happy=(
        "On the way home, {N} fell asleep with a big smile. It was the best trip ever.",
    ),
    close_sad=(
        "{N} looked out of the window and cried all the way home.",
    ),
)

PLOTS["new_friend"] = dict(
    dialogue_at="before",
    mood="good",
    obj=SMALL_THINGS, place=OUTDOOR, time=TIMES, has_friend=True,
    verb="play",
    summary=(
        "{akind} named {N} who wants to make a new friend",
        "{N} meets a new friend named {F} {at_place}.",
        "a shy {kind} who meets {afkind} {at_place}",
    ),
    setup=(
        "{N} had just moved to a new {home}. {He} did not know anyone there and felt {sad_f}.",
        "{N} was very shy. {He} wanted a friend to play with, but {he} was too scared to say hello.",
        "{N} did not have any friends to play with. Every day, {he} played alone with {his} {obj}.",
    ),
    foreshadow=(
        "But {N} did not know that a new friend was very close.",
    ),
    problem=(
        "{time}, {N} went to the {place}. There {he} saw {afkind} named {F} sitting all alone.",
        "{time}, {h} took {N} to the {place}. {Afkind} named {F} was playing there with a ball.",
    ),
    middle=(
        "{N} walked over to {F} very slowly. {His} heart was beating fast, but {he} sat down next to {fhim}.",
        "{N} showed {F} {his} {obj}. {F} thought it was great, and they played with it together.",
        "They ran around the {place} and played tag until they were out of breath.",
    ),
    dialogue=(
        "\"Hello, my name is {N},\" {he} said. \"Do you want to play with me?\"\n{F} looked up. \"Yes, please!\" {fhe} said.",
        "\"What are you doing?\" {N} asked.\n\"I am looking for bugs,\" said {F}. \"You can look too.\"",
    ),
    conflict=(
        "But then {N} and {F} both wanted the {obj} at the same time. They pulled and pulled, and they both got angry.",
        "Then {F} said {N}'s drawing was silly. {N} felt hurt, and they argued for a while.",
    ),
    twist_happy=(
        "Then {N} found out something amazing. {F} lived in the house right next door, so they could play every day!",
    ),
    twist_sad=(
        "Then {F} said something surprising. {fHe} was only visiting, and the next day {fhe} went far away.",
    ),
    happy=(
        "They played all afternoon. When it was time to go home, they promised to meet again the next day.",
        "{N} and {F} played every day after that. They shared their toys and their snacks.",
    ),
    sad=(
        "The next day, {N} went back to the {place}, but {F} was not there. {F} had moved away.",
        "But then {F} got bored and walked away without a word. {N} was left all alone.",
    ),
    moral_happy=("{N} learned that saying hello is the first step to making a friend.",),
    moral_sad=("{N} learned that sometimes the ones we like have to go away.",),
    close_happy=(
        "{N} and {F} were friends forever.",
        "{N} smiled. {He} had a new friend, and {he} was so happy.",
    ),
    close_sad=(
        "{N} sat on the bench all alone and cried.",
        "{He} felt lonely again, and a tear rolled down {his} cheek.",
    ),
)

PLOTS["broken_toy"] = dict(
    mood="bad",
    obj=BREAKABLE, place=OUTDOOR, time=TIMES,
    verb="fix",
    summary=(
        "{akind} named {N} whose {adj} {obj} breaks",
        "{N} breaks {his} favorite {obj} and tries to fix it.",
        "{a_kind} and a broken {obj}",
    ),
    setup=(
        "{N} had {aobj} that {his} grandma gave {him}. It was very special.",
        "{N}'s best toy was {aobj}. {He} played with it every single day.",
    ),
    foreshadow=(
        "{H} always said to be gentle with it, but {N} did not always listen.",
    ),
    problem=(
        "{time}, {N} was playing with the {obj} on the stairs. It slipped out of {his} hands and fell. Crack! The {obj} was broken.",
        "{time}, {N} threw the {obj} high in the air. It came down hard on the floor, and a piece came off.",
        "{time}, {N}'s little brother stepped on the {obj} by mistake. Snap! It broke in two.",
    ),
    middle=(
        "{N} picked up the pieces. {He} felt {sad_f} and did not know what to do.",
        "{N} brought the pieces to {h}. {H} looked at them very carefully.",
        "{N} and {h} got some glue and tape. They tried to put the pieces back together.",
    ),
    dialogue=(
        "\"Can you fix it?\" {N} asked in a small voice.\n\"I will try my best,\" said {h}.",
        "\"My {obj} is broken!\" {N} said.\n\"Let me see,\" {h} said softly.",
    ),
    conflict=(
        "{N} was angry. {He} said it was {h}'s fault for leaving it there. {H} said that was not fair, and they argued.",
    ),
    twist_happy=(
        "Then {h} had a surprise. {hHe} opened a box, and inside was a new part that fit just right. The {obj} worked again!",
    ),
    twist_sad=(
        "Then the glue made a big mess, and another piece broke off. The {obj} could never be fixed.",
    ),
    happy=(
        "They worked and worked. At last, the {obj} was fixed. It looked as good as new!",
        "The glue held the pieces together. The {obj} worked again!",
    ),
    sad=(
        "But the {obj} was broken into too many pieces. It could not be fixed.",
        "They tried and tried, but the {obj} broke again. It would never work again.",
    ),
    moral_happy=("{N} learned that with patience and help, many things can be fixed.",),
    moral_sad=("{N} learned to be gentle with {his} toys.",),
    close_happy=(
        "{N} hugged {h} and said thank you. It was the best day ever.",
    ),
    close_sad=(
        "{N} put the broken {obj} in a box and cried.",
    ),
)

PLOTS["storm"] = dict(
    mood="bad",
    obj=SMALL_THINGS, place=("garden", "backyard", "yard", "field", "meadow", "farm"),
    time=TIMES_RAINY,
    verb="listen",
    summary=(
        "{akind} named {N} who is scared of a big storm",
        "{N} is scared when a big storm comes.",
        "a big storm and {akind} named {N}",
    ),
    setup=(
        "{N} loved to play outside {at_place}, even on gray days. {He} knew every corner of it.",
        "{N} had a little swing {at_place}. {He} played on it every day with {his} {adj} {obj}.",
    ),
    foreshadow=(
        "The sky was getting darker and darker, but {N} did not look up.",
        "The wind started to blow a little, as if it wanted to tell {N} something.",
    ),
    problem=(
        "{time}, the sky turned black. Thunder went boom, and rain began to fall hard.",
        "{time}, a big storm came. The wind howled, and the trees shook.",
    ),
    middle=(
        "{N} ran inside and hid under {his} blanket. {He} was very {scared_f}.",
        "{H} sat next to {N} and held {his} hand. They listened to the rain on the roof.",
        "Then {N} remembered that {his} {obj} was still outside {at_place}!",
    ),
    dialogue=(
        "\"I am scared of the thunder,\" {N} said.\n\"It is only noise,\" said {h}. \"We are safe inside.\"",
        "\"What if the storm never stops?\" {N} asked.\n\"Every storm stops,\" {h} said in a kind voice.",
    ),
    conflict=(
        "{N} wanted to run outside to get {his} {obj}, but {h} said no. {N} was cross and stamped {his} feet.",
    ),
    twist_happy=(
        "When the storm stopped, they found a surprise {at_place}. A tiny kitten was hiding under the bench, wet but safe, and it purred at {N}.",
    ),
    twist_sad=(
        "Then there was a loud crack. The old tree {at_place} fell down right on top of {N}'s {obj}, and it broke.",
    ),
    happy=(
        "After a while, the rain stopped. The sun came out, and a big rainbow shone over the {place}.",
        "Soon the storm went away. {N} ran outside and found {his} {obj}, wet but safe.",
    ),
    sad=(
        "In the morning, the {place} was a big mess. {N}'s {obj} was gone, blown away by the wind.",
        "The storm broke {N}'s swing and blew away {his} {obj}. It was lost forever.",
    ),
    moral_happy=("{N} learned that storms are loud, but they always pass.",),
    moral_sad=("{N} learned to bring {his} things inside when the sky gets dark.",),
    close_happy=(
        "{N} jumped in the puddles and laughed.",
        "{N} smiled at the rainbow. {He} was not scared anymore.",
    ),
    close_sad=(
        "{N} looked at the mess and cried.",
        "{He} never found {his} {obj} again, and {he} was very sad.",
    ),
)

PLOTS["race"] = dict(
    dialogue_at="before",
    mood="good",
    obj=TREASURES, place=("park", "field", "meadow", "beach", "playground", "hill", "farm"), time=TIMES, has_friend=True,
    verb="race",
    summary=(
        "{akind} named {N} who wants to win a race",
        "{N} runs in a big race {at_place}.",
        "a race between {N} and {F}",
    ),
    setup=(
        "{N} was very fast. {He} liked to race around the {place} every morning.",
        "{N} wanted to be the fastest {kind} of all. {He} raced everyone {he} met.",
    ),
    foreshadow=(
        "{N} did not know that this race would be very special.",
    ),
    problem=(
        "{time}, there was a big race {at_place}. Everyone came to watch. {N} and {afkind} named {F} stood at the start.",
        "{time}, {afkind} named {F} came to the {place}. {F} wanted to race {N} to the old tree.",
    ),
    middle=(
        "{N} had practiced for days and days. {He} had run and jumped until {his} legs were tired.",
        "Ready, set, go! {N} and {F} ran as fast as they could.",
        "{N} raced past the flowers and over the little bridge.",
    ),
    dialogue=(
        "\"I will win!\" said {F}.\n\"No, I will!\" said {N}.",
        "\"Good luck,\" {h} said.\n\"Thank you,\" said {N}. \"I will do my best.\"",
    ),
    conflict=(
        "{F} pushed {N} a little at the start. {N} shouted that it was not fair, and they were both angry.",
    ),
    twist_happy=(
        "Then {F} tripped over a rock. {N} stopped to help {fhim} up, and they crossed the line together, hand in hand.",
    ),
    twist_sad=(
        "Then {N} saw a shiny coin on the ground and stopped to pick it up. Everyone ran past {him}, and {he} lost the race.",
    ),
    happy=(
        "{N} ran faster and faster and crossed the line first. {He} won the race!",
        "{N} did not win, but {he} ran {his} very best race and felt proud.",
    ),
    sad=(
        "But {N} tripped and fell down. {He} hurt {his} knee and could not finish the race.",
        "{N} ran as fast as {he} could, but {he} came last. {F} was first, and {N} was last.",
    ),
    moral_happy=("{N} learned that trying your best is what matters most.",),
    moral_sad=("{N} learned that {he} had to practice more and be careful.",),
    close_happy=(
        "Everyone cheered for {N}, and {he} smiled from ear to ear.",
        "{N} and {F} laughed and hugged. They were friends forever.",
    ),
    close_sad=(
        "{N} sat on the grass and cried.",
        "{N} went home alone, with tears in {his} eyes.",
    ),
)

PLOTS["baking"] = dict(
    mood="good",
    obj=FOODS, adj_pool="food", place=("kitchen",), time=TIMES,
    verb="bake",
    summary=(
        "{N} bakes {aobj} with {his} family.",
        "{akind} named {N} who wants to bake {aobj}",
        "baking {aobj} for a special day",
    ),
    setup=(
        "{N} loved to help in the kitchen. {His} favorite thing to bake was {obj}.",
        "It was almost grandpa's birthday, and {N} wanted to bake {aobj} for the party.",
    ),
    foreshadow=(
        "{H} said the oven was very hot, and they had to watch it closely.",
    ),
    problem=(
        "{time}, {N} and {h} got out flour, eggs, milk and sugar. They mixed everything in a big bowl.",
        "{time}, {N} put on an apron and went to the {place}. {H} helped {him} stir the batter for the {obj}.",
    ),
    middle=(
        "They put the {obj} in the hot oven. Soon the kitchen began to smell sweet.",
        "{N} waited and waited by the oven. {He} could not wait to taste the {obj}.",
    ),
    dialogue=(
        "\"Can I lick the spoon?\" asked {N}.\n\"Just one lick,\" said {h} with a wink.",
        "\"Is it ready yet?\" {N} asked.\n\"Not yet,\" said {h}. \"Good things take time.\"",
    ),
    conflict=(
        "{N} wanted to add lots and lots of sugar, but {h} said it was too much. They argued about it, and {N} pouted.",
    ),
    twist_happy=(
        "When they opened the oven, there was a surprise. {H} had hidden a little heart made of dough on top of the {obj}!",
    ),
    twist_sad=(
        "Then {N} heard the doorbell and ran to open it. {He} forgot all about the oven, and the {obj} burned black.",
    ),
    happy=(
        "When the {obj} was ready, it was warm and golden. Everyone said it was the best {obj} they had ever eaten.",
        "They shared the {obj} with the whole family. It was delicious!",
    ),
    sad=(
        "But they left it in the oven too long. The {obj} was black and burned, and nobody could eat it.",
        "{N} carried the {obj} to the table, but {he} tripped. The {obj} fell on the floor and broke into pieces.",
    ),
    moral_happy=("{N} learned that working together makes everything better.",),
    moral_sad=("{N} learned that {he} must be careful and patient in the kitchen.",),
    close_happy=(
        "{N} licked {his} lips and smiled. It was the best day ever.",
    ),
    close_sad=(
        "{N} looked at the ruined {obj} and cried.",
    ),
)

PLOTS["garden"] = dict(
    mood="good",
    obj=PLANTS, adj_pool="none", place=("garden",), time=TIMES,
    verb="plant",
    summary=(
        "{N} plants {aobj} seed in the garden.",
        "{akind} named {N} who plants a little {obj} seed",
        "a little {obj} seed and {akind} named {N}",
    ),
    setup=(
        "{N} loved the {place} near {his} {home}. {He} liked to dig in the soft dirt.",
        "{N} wanted to grow something of {his} own {at_place}.",
    ),
    foreshadow=(
        "{N} did not know how much patience a garden needs.",
    ),
    problem=(
        "{time}, {h} gave {N} a tiny {obj} seed. {N} planted it in the ground and patted the dirt.",
        "{time}, {N} found a little {obj} seed. {He} dug a hole, planted the seed and covered it up.",
    ),
    middle=(
        "Every morning, {N} watered the seed. {He} waited and waited, but nothing happened.",
        "After many days, a small green plant came up. {N} was so {happy_f}, and {he} watered it every day.",
    ),
    dialogue=(
        "\"When will it grow?\" {N} asked.\n\"Be patient,\" said {h}. \"Plants need sun, water and time.\"",
        "\"Grow, little seed, grow!\" {N} sang to the dirt every morning.",
    ),
    conflict=(
        "A big rabbit kept coming into the {place}. {N} shouted at it and chased it away, but it always came back.",
    ),
    twist_happy=(
        "Then one morning, {N} saw something amazing. The plant had grown taller than {him}, with a big {obj} on top!",
    ),
    twist_sad=(
        "Then one night, a hungry rabbit crept into the {place} and ate the little plant.",
    ),
    happy=(
        "At last, a beautiful {obj} grew. It was the best one in the whole {place}.",
        "Soon the plant was big and strong, with a big {obj} on it.",
    ),
    sad=(
        "But one hot day, {N} forgot to water it. The little plant wilted and never grew again.",
        "In the morning, the little plant was gone. A rabbit had eaten it all up.",
    ),
    moral_happy=("{N} learned that with care and patience, little things can grow big.",),
    moral_sad=("{N} learned that plants need care every single day.",),
    close_happy=(
        "{N} showed it to everyone, and they all cheered.",
        "{N} smiled and gave {h} a big hug.",
    ),
    close_sad=(
        "{N} sat by the empty spot and cried.",
    ),
)

PLOTS["lost_pet"] = dict(
    mood="bad",
    obj=("gate",), adj_pool="none", place=OUTDOOR, time=TIMES, people_only=True, pet=True,
    verb="call",
    summary=(
        "{akind} named {N} whose {pet} runs away",
        "{N} looks for {his} lost {pet}, {petname}.",
        "{a_kind} and {his} lost {pet}",
    ),
    setup=(
        "{N} had {apet} named {petname}. {N} and {petname} did everything together.",
        "{N}'s best friend was {his} {pet}, {petname}. {petname} was {pet_adj} and very funny.",
    ),
    foreshadow=(
        "Every night, {N} closed the gate so that {petname} could not run away.",
    ),
    problem=(
        "{time}, {N} forgot to close the gate. {petname} ran out and went far away.",
        "{time}, {petname} saw a butterfly and ran after it. {pHe} ran out of the gate, past the {place}, and did not come back.",
    ),
    middle=(
        "{N} looked everywhere for {petname}. {He} looked {at_place} and down the street.",
        "{N} and {h} made signs with a picture of {petname} and put them up all over town.",
        "{N} called {petname}'s name again and again.",
    ),
    dialogue=(
        "\"{petname}! {petname}! Where are you?\" {N} called.\n\"We will find {phim},\" said {h}. \"Don't give up.\"",
        "\"Have you seen my {pet}?\" {N} asked a man at the shop.\n\"No, I have not,\" said the man.",
    ),
    conflict=(
        "{N} said it was {h}'s fault. {H} said it was nobody's fault, and they both felt grumpy.",
    ),
    twist_happy=(
        "Then they heard a tiny sound from the old shed. {petname} was inside, safe and sound, sleeping in a box.",
    ),
    twist_sad=(
        "Then {N} saw {petname} far away, on the other side of the big river. {pHe} ran into the woods, and {N} never saw {phim} again.",
    ),
    happy=(
        "At last, {N} heard a happy sound. It was {petname}! {pHe} ran straight into {N}'s arms.",
        "That night, there was a scratch at the door. It was {petname}, tired and dirty, but safe.",
    ),
    sad=(
        "They looked for days and days, but {petname} never came back.",
        "{N} waited by the gate every night, but {petname} was gone forever.",
    ),
    moral_happy=("{N} learned to always close the gate.",),
    moral_sad=("{N} learned to always close the gate, but it was too late.",),
    close_happy=(
        "{N} hugged {petname} tight and laughed.",
        "{N} gave {petname} a big hug. It was the best day ever.",
    ),
    close_sad=(
        "{N} missed {petname} every day and cried.",
        "{He} never saw {petname} again.",
    ),
)

PLOTS["kite"] = dict(
    dialogue_at="after",
    mood="good",
    obj=KITES, place=("hill", "park", "beach", "field", "meadow"), time=TIMES_WINDY,
    verb="pull",
    summary=(
        "{akind} named {N} who flies {aobj} on a windy day",
        "{N} flies {his} new {obj} {at_place}.",
        "{aobj} and a windy day",
    ),
    setup=(
        "{N} had a new {obj}. It was {adj} and very light.",
        "{N} got {aobj} for {his} birthday. {He} could not wait to make it fly.",
    ),
    foreshadow=(
        "The wind was getting stronger and stronger.",
        "{H} said to hold the string tight, because the wind was strong.",
    ),
    problem=(
        "{time}, {N} took the {obj} to the {place}. The wind was strong.",
        "{time}, {N} and {h} went up to the {place} with the {obj}.",
    ),
    middle=(
        "{He} held the string tight and ran. The {obj} went up, up, up into the sky.",
        "The {obj} danced in the wind. It went higher than the trees. {N} pulled the string to keep it up.",
    ),
    dialogue=(
        "\"Look, it is flying!\" {N} shouted.\n\"Hold on tight!\" said {h}.",
    ),
    conflict=(
        "{H} wanted a turn, but {N} did not want to share. They pulled at the string and argued.",
    ),
    twist_happy=(
        "Then a big gust of wind pulled the {obj} away, but it got stuck in a low tree right next to them. {H} reached up and got it back.",
    ),
    twist_sad=(
        "Then a big bird flew close to the {obj} and pecked a hole in it. The {obj} fell into the lake and was lost forever.",
    ),
    happy=(
        "{N} flew the {obj} all afternoon. It looked like a bird in the sky, {adj} and free.",
        "When the wind got calm, the {obj} came down softly, right into {N}'s hands.",
    ),
    sad=(
        "Then a big gust of wind came. The string slipped out of {N}'s hand, and the {obj} flew far away.",
        "The {obj} got caught in a tall tree and tore. It was broken.",
    ),
    moral_happy=("{N} learned to hold on tight to the things {he} loves.",),
    moral_sad=("{N} learned to hold the string tight.",),
    close_happy=(
        "{N} laughed and ran home with {his} {obj}. It was the best day ever.",
    ),
    close_sad=(
        "{N} watched the {obj} until it was gone. {He} never saw it again.",
        "{N} cried as the {obj} got smaller and smaller, until it was gone forever.",
    ),
)

PLOTS["sharing"] = dict(
    mood="bad",
    obj=SMALL_THINGS, place=OUTDOOR, time=TIMES, has_friend=True,
    verb="share",
    summary=(
        "{akind} named {N} who has to learn to share",
        "{N} and {F} both want to play with the same {obj}.",
        "{N} does not want to share {his} {obj}.",
    ),
    setup=(
        "{N} had {aobj}. {He} did not like anyone else to touch it.",
        "{N} got {aobj} from {his} grandma. It was {his} new favorite thing.",
    ),
    foreshadow=(
        "{H} always said that sharing is caring, but {N} did not think so.",
    ),
    problem=(
        "{time}, {N} took the {obj} to the {place}. {Afkind} named {F} saw it and wanted to play with it too.",
    ),
    middle=(
        "{N} held the {obj} close. {He} did not want to share.",
        "{F} asked again and again, but {N} said no.",
    ),
    dialogue=(
        "\"Can I play with your {obj}?\" asked {F}.\n\"No, it is mine!\" said {N}.",
        "\"Please, just for a little while,\" said {F}.\n{N} thought about it for a long time.",
    ),
    conflict=(
        "{N} and {F} both grabbed the {obj}. They pulled and pulled, and they both shouted.",
    ),
    twist_happy=(
        "Then {F} took a bag out of {fhis} pocket. It was full of marbles, and {fhe} wanted to share them too. So they shared everything.",
    ),
    twist_sad=(
        "Then the {obj} slipped out of {N}'s hands and fell into a big puddle of mud. It was ruined.",
    ),
    happy=(
        "At last, {N} gave the {obj} to {F}. They took turns and played together all day.",
        "{N} decided to share. Playing together was much more fun than playing by {self}.",
    ),
    sad=(
        "{N} did not share. {F} walked away, and {N} was left all alone with {his} {obj}.",
        "They pulled so hard that the {obj} broke in two. Now nobody could play with it.",
    ),
    moral_happy=("{N} learned that sharing makes everyone happy.",),
    moral_sad=("{N} learned that keeping everything to {self} only makes you lonely.",),
    close_happy=(
        "{N} and {F} became friends forever.",
        "{N} smiled, and {F} smiled too.",
    ),
    close_sad=(
        "{N} sat alone and felt very sorry.",
    ),
)

PLOTS["climb"] = dict(
    mood="good",
    obj=CLIMBS, adj_pool="none", place=OUTDOOR, time=TIMES,
    verb="climb",
    summary=(
        "{akind} named {N} who wants to climb {aobj}",
        "{N} climbs {aobj} to see the world.",
    ),
    setup=(
        "Near {N}'s {home} there was {aobj}. {He} always wondered what {he} could see from the top.",
        "{N} loved to climb. {He} wanted to climb the {obj} by the {place} more than anything.",
    ),
    foreshadow=(
        "{H} always said it was too high, but {N} did not listen.",
    ),
    problem=(
        "{time}, {N} decided to climb the {obj}. {He} put {his} hands and feet on it and started to go up.",
    ),
    middle=(
        "Up and up {he} went. The ground looked smaller and smaller.",
        "{His} arms got tired, but {he} kept going.",
    ),
    dialogue=(
        "\"Be careful, {N}!\" called {h} from below.\n\"I will!\" {N} called back.",
        "\"I can see the whole {place}!\" {N} shouted.",
    ),
    conflict=(
        "{H} told {N} to come down right now. {N} said {he} was big enough, and they argued.",
    ),
    twist_happy=(
        "At the top, {N} found a little nest with three blue eggs. A mother bird sang a song just for {him}.",
    ),
    twist_sad=(
        "Then {N} looked down and saw how high {he} was. {His} legs began to shake, {his} foot slipped, and {he} fell.",
    ),
    happy=(
        "At the top, {N} could see the whole {place}. It was beautiful! Then {he} climbed down slowly and carefully.",
        "{N} reached the top and waved to {h}. {He} felt brave and strong.",
    ),
    sad=(
        "Then {his} foot slipped. {N} fell down and hurt {his} arm.",
        "{N} got stuck and could not get down. {He} had to wait a long time, cold and scared, until {h} came with a ladder.",
    ),
    moral_happy=("{N} learned that being brave and being careful go together.",),
    moral_sad=("{N} learned to listen when grown-ups say to be careful.",),
    close_happy=(
        "{He} smiled all the way home. {He} was so proud of {self}.",
    ),
    close_sad=(
        "{N} cried and cried. {He} did not climb anything for a long time.",
    ),
)

PLOTS["gift"] = dict(
    mood="good",
    obj=GIFTS, adj_pool="none", place=OUTDOOR, time=TIMES,
    verb="paint",
    summary=(
        "{akind} named {N} who makes a surprise gift",
        "{N} makes {aobj} as a surprise.",
        "a special gift from {N}",
    ),
    setup=(
        "{N} wanted to make something special for {h}.",
        "It was almost {h}'s birthday. {N} wanted to give {hhim} a surprise.",
    ),
    foreshadow=(
        "It was going to be a very busy week for {N}.",
    ),
    problem=(
        "{time}, {N} sat at the table with paper, glue and paint. {He} began to make {aobj}.",
        "{time}, {N} found glue, beads and paint in a box. {He} decided to make {aobj}.",
    ),
    middle=(
        "{He} worked very hard. {He} painted it with {his} favorite colors and added lots of glitter.",
        "{N} hid the {obj} under {his} bed so that nobody could see it.",
    ),
    dialogue=(
        "\"What are you making?\" asked {h}.\n\"It's a secret!\" said {N} with a grin.",
    ),
    conflict=(
        "{N}'s little sister wanted to help, but {N} said no. The sister grabbed the paintbrush, and they argued.",
    ),
    twist_happy=(
        "Then {N} found out that {h} had made a surprise for {him} too! They gave each other their gifts at the same time.",
    ),
    twist_sad=(
        "Then a puppy ran into the room and jumped on the table. The {obj} broke into little pieces.",
    ),
    happy=(
        "When {N} gave {h} the {obj}, {hhe} smiled a big smile. {hHe} said it was the best gift ever.",
        "{H} looked at the {obj} for a long time. Then {hhe} gave {N} a big hug.",
    ),
    sad=(
        "But a puppy got the {obj} and chewed it into little pieces. {N} had nothing to give.",
        "On the way, {N} dropped the {obj} in a puddle. It was wet and ruined.",
    ),
    moral_happy=("{N} learned that gifts made with love are the best gifts of all.",),
    moral_sad=("{N} learned to keep special things in a safe place.",),
    close_happy=(
        "{N} felt warm and happy inside.",
    ),
    close_sad=(
        "{N} sat down and cried. {His} surprise was gone.",
    ),
)

PLOTS["boat"] = dict(
    mood="good",
    obj=BOATS, adj_pool="none", place=("pond", "river", "lake", "stream"), time=TIMES,
    verb="sail",
    summary=(
        "{akind} named {N} who sails {aobj} on the {place}",
        "{N} sails {aobj} on the {place}.",
    ),
    setup=(
        "{N} liked to make things with paper and sticks. One day {he} made {aobj}.",
        "{N} had {aobj}. {He} wanted to see if it could sail.",
    ),
    foreshadow=(
        "{H} said the water was deeper than it looked.",
    ),
    problem=(
        "{time}, {N} took the {obj} to the {place}. {He} put it on the water very gently.",
        "{time}, {N} and {h} walked down to the {place} with the {obj}.",
    ),
    middle=(
        "The {obj} floated! It bobbed up and down on the little waves.",
        "{N} blew on the {obj}, and it sailed away from the shore.",
    ),
    dialogue=(
        "\"Sail, little boat, sail!\" {N} called.\n\"It looks like a real ship,\" said {h}.",
    ),
    conflict=(
        "{H} wanted to push the {obj} with a stick, but {N} said no. They argued about who should go first.",
    ),
    twist_happy=(
        "Then a little duck swam next to the {obj} and pushed it back to {N} with its beak.",
    ),
    twist_sad=(
        "Then a big fish jumped out of the water and splashed the {obj}. It filled with water and sank.",
    ),
    happy=(
        "The {obj} sailed all the way across the {place} and back. {N} clapped {his} hands.",
        "{N} and {h} sailed the {obj} until the sun went down.",
    ),
    sad=(
        "But then the {obj} got wet and heavy. It sank to the bottom of the {place}.",
        "The wind pushed the {obj} far away, and {N} could not get it back.",
    ),
    moral_happy=("{N} learned that making things with your own hands is great fun.",),
    moral_sad=("{N} learned that the water does not give back what it takes.",),
    close_happy=(
        "{N} laughed with joy. It was the best day ever.",
    ),
    close_sad=(
        "{N} stood by the water and cried. {He} never saw {his} {obj} again.",
    ),
)

PLOTS["snow"] = dict(
    dialogue_at="after",
    mood="good",
    obj=SNOW, adj_pool="none", place=("yard", "park", "field", "hill", "garden"),
    time=TIMES_WINTER,
    verb="roll",
    summary=(
        "{akind} named {N} who builds {aobj}",
        "{N} makes {aobj} on a snowy day.",
    ),
    setup=(
        "{N} loved winter. {He} liked to catch snowflakes on {his} tongue.",
        "{N} had waited all year for the snow to come.",
    ),
    foreshadow=(
        "{N} hoped the snow would stay for a long, long time.",
    ),
    problem=(
        "{time}, {N} put on {his} coat and boots and ran out to the {place}. {He} wanted to build {aobj}.",
    ),
    middle=(
        "{He} rolled a big ball of snow, then a smaller one, then a tiny one.",
        "{N} patted the snow and made it smooth and strong. Then {he} put a little hat on top.",
    ),
    dialogue=(
        "\"Look at my {obj}!\" {N} called.\n\"It is wonderful!\" said {h}.",
    ),
    conflict=(
        "Some big kids ran by and said the {obj} was silly. {N} told them to go away, and they argued.",
    ),
    twist_happy=(
        "Then {h} came out with a scarf and a hat. With them, the {obj} looked just like a real friend.",
    ),
    twist_sad=(
        "Then the sun came out, and it got warmer and warmer. By lunch, the {obj} was only a puddle.",
    ),
    happy=(
        "When it was finished, the {obj} was the best one on the whole street. Everyone came to see it.",
        "{N} and {h} built a little one next to it, so the {obj} would have a friend.",
    ),
    sad=(
        "The next day, the sun came out, and the {obj} melted into a sad little puddle.",
        "That night, a big dog ran through the {place} and knocked the {obj} down. It was ruined.",
    ),
    moral_happy=("{N} learned that winter is full of fun.",),
    moral_sad=("{N} learned that nothing made of snow can stay forever.",),
    close_happy=(
        "{N} went inside for hot cocoa, smiling all the way.",
        "{N} smiled at {his} {obj} and laughed.",
    ),
    close_sad=(
        "{N} looked at the puddle and cried.",
    ),
)

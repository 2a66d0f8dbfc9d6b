"""Reference data the sample generator draws people, places and companies from.

Names are listed most common first; the generator turns rank into frequency
(see ``population``), so the order matters more than any single count.
Surnames follow the 2010 US census ranking, first names a blend of US birth
decades 1940-2005. Cities carry their real state, approximate population,
3-digit ZIP prefixes and area codes, so a name, ZIP and phone of one
generated address agree with each other. Several city names exist in more
than one state on purpose (Springfield, Portland, Columbus, Aurora, Kansas
City): a city alone does not identify a place.
"""
from __future__ import annotations

from typing import NamedTuple

MALE_FIRST_NAMES: tuple[str, ...] = (
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Charles",
    "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul", "Andrew", "Joshua",
    "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Edward", "Jason", "Jeffrey", "Ryan",
    "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen", "Larry", "Justin", "Scott", "Brandon",
    "Benjamin", "Samuel", "Gregory", "Alexander", "Frank", "Patrick", "Raymond", "Jack", "Dennis", "Jerry",
    "Tyler", "Aaron", "Jose", "Adam", "Nathan", "Henry", "Douglas", "Zachary", "Peter", "Kyle",
    "Ethan", "Walter", "Noah", "Jeremy", "Christian", "Keith", "Roger", "Terry", "Gerald", "Harold",
    "Sean", "Austin", "Carl", "Arthur", "Lawrence", "Dylan", "Jesse", "Jordan", "Bryan", "Billy",
    "Joe", "Bruce", "Gabriel", "Logan", "Albert", "Willie", "Alan", "Juan", "Wayne", "Elijah",
    "Randy", "Roy", "Vincent", "Ralph", "Eugene", "Russell", "Bobby", "Mason", "Philip", "Louis",
    "Carlos", "Luis", "Miguel", "Victor", "Martin", "Howard", "Fred", "Craig", "Shawn", "Todd",
    "Marcus", "Curtis", "Chad", "Derek", "Travis", "Troy", "Luke", "Evan", "Ian", "Caleb",
    "Hunter", "Cody", "Jared", "Dustin", "Alex", "Manuel", "Francisco", "Antonio", "Jorge", "Ricardo",
    "Oscar", "Hector", "Leonard", "Stanley", "Darnell", "André", "Tyrone", "Malik", "DeShawn", "Wei",
    "Hiroshi", "Rahul", "Mohammed", "Ahmed", "René", "Dmitri", "Tomasz", "Sven", "Kwame", "Hamza",
)

FEMALE_FIRST_NAMES: tuple[str, ...] = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
    "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily", "Donna", "Michelle",
    "Carol", "Amanda", "Dorothy", "Melissa", "Deborah", "Stephanie", "Rebecca", "Sharon", "Laura", "Cynthia",
    "Kathleen", "Amy", "Angela", "Shirley", "Anna", "Brenda", "Pamela", "Emma", "Nicole", "Helen",
    "Samantha", "Katherine", "Christine", "Debra", "Rachel", "Carolyn", "Janet", "Catherine", "Maria", "Heather",
    "Diane", "Ruth", "Julie", "Olivia", "Joyce", "Virginia", "Victoria", "Kelly", "Lauren", "Christina",
    "Joan", "Evelyn", "Judith", "Megan", "Andrea", "Cheryl", "Hannah", "Jacqueline", "Martha", "Gloria",
    "Teresa", "Ann", "Sara", "Madison", "Frances", "Kathryn", "Janice", "Jean", "Abigail", "Alice",
    "Judy", "Sophia", "Grace", "Denise", "Amber", "Doris", "Marilyn", "Danielle", "Beverly", "Isabella",
    "Theresa", "Diana", "Natalie", "Brittany", "Charlotte", "Marie", "Kayla", "Alexis", "Lori", "Tiffany",
    "Rose", "Crystal", "Jasmine", "Erin", "Tammy", "Courtney", "Vanessa", "Monica", "Veronica", "Gabriela",
    "Rosa", "Ana", "Guadalupe", "Yolanda", "Latoya", "Keisha", "Aaliyah", "Mei", "Priya", "Fatima",
    "Renée", "Zoe", "Ingrid", "Aisha", "Yuki", "Leticia", "Marisol", "Colleen", "Bridget", "Valerie",
)

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
    "Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper",
    "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
    "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
    "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes",
    "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander", "Hamilton", "Graham",
    "Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes", "Bryant", "Herrera", "Gibson",
    "Ellis", "Tran", "Medina", "Aguilar", "Stevens", "Murray", "Ford", "Castro", "Marshall", "Owens",
    "Harrison", "Fernandez", "McDonald", "Woods", "Washington", "Kennedy", "Wells", "Vargas", "Henry", "Chen",
    "Freeman", "Webb", "Tucker", "Guzman", "Burns", "Crawford", "Olson", "Simpson", "Porter", "Hunter",
    "Gordon", "Mendez", "Silva", "Shaw", "Snyder", "Mason", "Dixon", "Muñoz", "Hunt", "Hicks",
    "Holmes", "Palmer", "Wagner", "Black", "Robertson", "Boyd", "Rose", "Stone", "Salazar", "Fox",
    "Warren", "Mills", "Meyer", "Rice", "Schmidt", "Garza", "Daniels", "Ferguson", "Nichols", "Stephens",
    "Soto", "Weaver", "Ryan", "Gardner", "Payne", "Grant", "Dunn", "Kelley", "Spencer", "Hawkins",
    "Arnold", "Pierce", "Vazquez", "Hansen", "Peters", "Santos", "Hart", "Bradley", "Knight", "Elliott",
    "Cunningham", "Duncan", "Armstrong", "Hudson", "Carroll", "Lane", "Riley", "Andrews", "Alvarado", "Ray",
    "Delgado", "Berry", "Perkins", "Hoffman", "Johnston", "Matthews", "Peña", "Richards", "Contreras", "Willis",
    "Carpenter", "Lawrence", "Sandoval", "Guerrero", "George", "Chapman", "Rios", "Estrada", "Ortega", "Watkins",
    "Greene", "Nuñez", "Wheeler", "Valdez", "Harper", "Burke", "Larson", "Santiago", "Maldonado", "Morrison",
    "Franklin", "Carlson", "Austin", "Dominguez", "Carr", "Lawson", "Jacobs", "O'Brien", "Lynch", "Singh",
    "Vega", "Bishop", "Montgomery", "Oliver", "Jensen", "Harvey", "Williamson", "Gilbert", "Dean", "Sims",
    "Espinoza", "Howell", "Li", "Wong", "Reid", "Hanson", "Le", "McCoy", "Garrett", "Burton",
    "Fuller", "Wang", "Weber", "Welch", "Rojas", "Lucas", "Marquez", "Fields", "Park", "Yang",
    "Little", "Banks", "Padilla", "Day", "Walsh", "Bowman", "Schultz", "Luna", "Fowler", "Mejia",
    "Davidson", "Acosta", "Brewer", "May", "Holland", "Juarez", "Newman", "Pearson", "Curtis", "Cortez",
    "Douglas", "Schneider", "Joseph", "Barrett", "Navarro", "Figueroa", "Keller", "Avila", "Wade", "Molina",
    "Stanley", "Hopkins", "Campos", "Barnett", "Bates", "Chambers", "Caldwell", "Beck", "Lambert", "Miranda",
    "Byrd", "Craig", "Ayala", "Lowe", "Frazier", "Powers", "Neal", "Leonard", "Gregory", "Carrillo",
    "Sutton", "Fleming", "Rhodes", "Shelton", "Schwartz", "Norris", "Jennings", "Watts", "Duran", "Walters",
    "Cohen", "McDaniel", "Moran", "Parks", "Steele", "Vaughn", "Becker", "Holt", "DeLeon", "Barker",
    "Terry", "Hale", "Leon", "Benson", "Haynes", "Horton", "Miles", "Lyons", "Pham", "Graves",
    "Bush", "Thornton", "Wolfe", "Warner", "Cabrera", "McKinney", "Mann", "Zimmerman", "Dawson", "Lara",
    "Fletcher", "Page", "McCarthy", "Love", "Robles", "Cervantes", "Solis", "Erickson", "Reeves", "Chang",
    "Klein", "Salinas", "Fuentes", "Baldwin", "Daniel", "Simon", "Velasquez", "Hardy", "Higgins", "Aguirre",
    "Lin", "Cummings", "Chandler", "Sharp", "Barber", "Bowen", "Ochoa", "Dennis", "Robbins", "Liu",
    "Ramsey", "Francis", "Griffith", "Paul", "Blair", "O'Connor", "Cardenas", "Pacheco", "Cross", "Calderon",
    "Quinn", "Moss", "Swanson", "Chan", "Rivas", "Khan", "Rodgers", "Serrano", "Fitzgerald", "Rosales",
    "Stevenson", "Christensen", "Manning", "Gill", "Curry", "McLaughlin", "Harmon", "McGee", "Gross", "Doyle",
    "Garner", "Newton", "Burgess", "Reese", "Walton", "Blake", "Trujillo", "Adkins", "Brady", "Goodman",
    "Roman", "Webster", "Goodwin", "Fischer", "Huang", "Potter", "De La Cruz", "Montoya", "Todd", "Wu",
    "Hines", "Mullins", "Castaneda", "Malone", "Cannon", "Tate", "Mack", "Sherman", "Hubbard", "Hodges",
    "Zhang", "Guerra", "Wolf", "Valencia", "Saunders", "Franco", "Rowe", "Gallagher", "Farmer", "Hammond",
    "Hampton", "Townsend", "Ingram", "Wise", "Gallegos", "Clarke", "Barton", "Schroeder", "Maxwell", "Waters",
    "Logan", "Camacho", "Strickland", "Norman", "Colon", "Parsons", "Frank", "Harrington", "Glover", "Osborne",
    "Buchanan", "Casey", "Floyd", "Patton", "Ibarra", "Ball", "Tyler", "Suarez", "Bowers", "Orozco",
    "Salas", "Cobb", "Gibbs", "Andrade", "Bauer", "Conner", "Moody", "Escobar", "McGuire", "Lloyd",
    "Mueller", "Hartman", "French", "Kramer", "McBride", "Pope", "Lindsey", "Velazquez", "Norton", "McCormick",
    "Sparks", "Flynn", "Yates", "Hogan", "Marsh", "Macias", "Villanueva", "Zamora", "Pratt", "Stokes",
    "Owen", "Ballard", "Lang", "Brock", "Villarreal", "Charles", "Drake", "Barrera", "Cain", "Patrick",
    "Pineda", "Burnett", "Mercado", "Santana", "Shepherd", "Bautista", "Ali", "Shaffer", "Lamb", "Trevino",
    "McKenzie", "Hess", "Olsen", "Cochran", "Morton", "Nash", "Wilkins", "Petersen", "Briggs", "Shah",
    "Roth", "Nicholson", "Holloway", "Lozano", "Rangel", "Flowers", "Hoover", "Short", "Arias", "Mora",
    "Valenzuela", "Bryan", "Meyers", "Weiss", "Underwood", "Bass", "Greer", "Summers", "Houston", "Carson",
    "Morrow", "Clayton", "Whitaker", "Decker", "Yoder", "Collier", "Zuniga", "Carey", "Wilcox", "Melendez",
    "Poole", "Roberson", "Larsen", "Conley", "Davenport", "Copeland", "Massey", "Lam", "Huff", "Rocha",
    "Cameron", "Jefferson", "Hood", "Monroe", "Anthony", "Pittman", "Huynh", "Randall", "Singleton", "Kirk",
    "Combs", "Mathis", "Christian", "Skinner", "Bradford", "Richard", "Galvan", "Wall", "Boone", "Kirby",
    "Wilkinson", "Bridges", "Bruce", "Atkinson", "Velez", "Meza", "Roy", "Vincent", "York", "Hodge",
    "Villa", "Abbott", "Allison", "Tapia", "Gates", "Chase", "Sosa", "Sweeney", "Farrell", "Wyatt",
    "Dalton", "Horn", "Barron", "Phelps", "Yu", "Dickerson", "Heath", "Foley", "Atkins", "Mathews",
    "Bonilla", "Acevedo", "Benitez", "Zavala", "Hensley", "Glenn", "Cisneros", "Harrell", "Shields", "Rubio",
    "Huffman", "Choi", "Boyer", "Garrison", "Arroyo", "Bond", "Kane", "Hancock", "Callahan", "Dillon",
    "Cline", "Wiggins", "Grimes", "Arellano", "Melton", "O'Neill", "Savage", "Ho", "Beltran", "Pitts",
    "Parrish", "Ponce", "Rich", "Booth", "Koch", "Golden", "Ware", "Brennan", "McDowell", "Marks",
    "Cantu", "Humphrey", "Baxter", "Sawyer", "Clay", "Tanner", "Hutchinson", "Kaur", "Berg", "Wiley",
    "Gilmore", "Russo", "Villegas", "Hobbs", "Keith", "Wilkerson", "Ahmed", "Beard", "McClain", "Montes",
    "Mata", "Rosario", "Vang", "Walter", "Henson", "O'Neal", "Mosley", "McClure", "Beasley", "Stephenson",
    "Snow", "Huerta", "Preston", "Vance", "Barry", "Johns", "Eaton", "Blackwell", "Dyer", "Prince",
    "MacDonald", "Solomon", "Guevara", "Stafford", "English", "Hurst", "Woodard", "Cortes", "Shannon", "Kemp",
    "Nolan", "McCullough", "Merritt", "Murillo", "Moon", "Salgado", "Strong", "Kline", "Cordova", "Barajas",
    "Roach", "Rosas", "Winters", "Jacobson", "Lester", "Knox", "Bullock", "Kerr", "Leach", "Meadows",
    "Davila", "Orr", "Whitehead", "Pruitt", "Kent", "Conway", "McKee", "Barr", "David", "DeJesus",
    "Marin", "Berger", "McIntyre", "Blankenship", "Gaines", "Palacios", "Cuevas", "Bartlett", "Durham", "Dorsey",
    "McCall", "O'Donnell", "Stein", "Browning", "Stout", "Lowery", "Sloan", "McLean", "Hendricks", "Calhoun",
    "Sexton", "Chung", "Gentry", "Hull", "Duarte", "Ellison", "Nielsen", "Gillespie", "Buck", "Middleton",
    "Sellers", "LeBlanc", "Esparza", "Hardin", "Bradshaw", "McIntosh", "Howe", "Livingston", "Frost", "Glass",
    "Morse", "Knapp", "Herman", "Stark", "Bravo", "Noble", "Spears", "Weeks", "Corona", "Frederick",
    "Buckley", "McFarland", "Hebert", "Enriquez", "Hickman", "Quintero", "Randolph", "Schaefer", "Walls", "Trejo",
    "House", "Reilly", "Pennington", "Michael", "Conrad", "Giles", "Benjamin", "Crosby", "Fitzpatrick", "Donovan",
    "Mays", "Mahoney", "Valentine", "Raymond", "Medrano", "Hahn", "McMillan", "Small", "Bentley", "Felix",
    "Peck", "Lucero", "Boyle", "Hanna", "Pace", "Rush", "Hurley", "Harding", "McConnell", "Bernal",
    "Nava", "Ayers", "Everett", "Ventura", "Avery", "Pugh", "Mayer", "Bender", "Shepard", "McMahon",
    "Landry", "Case", "Sampson", "Moses", "Magana", "Blackburn", "Dunlap", "Gould", "Duffy", "Vaughan",
    "Herring", "McKay", "Espinosa", "Rivers", "Farley", "Bernard", "Ashley", "Friedman", "Potts", "Truong",
    "Costa", "Correa", "Blevins", "Nixon", "Clements", "Fry", "De La Rosa", "Best", "Benton", "Lugo",
    "Portillo", "Dougherty", "Crane", "Haley", "Phan", "Villalobos", "Blanchard", "Horne", "Finley", "Quintana",
    "Lynn", "Esquivel", "Bean", "Dodson", "Mullen", "Xiong", "Hayden", "Cano", "Levy", "Huber",
    "Richmond", "Moyer", "Lim", "Frye", "Sheppard", "McCarty", "Avalos", "Booker", "Waller", "Parra",
    "Woodward", "Jaramillo", "Krueger", "Rasmussen", "Brandt", "Peralta", "Donaldson", "Stuart", "Faulkner",
    "Maynard", "Galindo", "Coffey", "Estes", "Sanford", "Burch", "Maddox", "Vo", "O'Connell", "Vu",
    "Andersen", "Spence", "McPherson", "Church", "Schmitt", "Stanton", "Leal", "Cherry", "Compton", "Dudley",
    "Sierra", "Pollard", "Alfaro", "Hester", "Proctor", "Lu", "Hinton", "Novak", "Good", "Madden",
    "McCann", "Terrell", "Jarvis", "Dickson", "Reyna", "Cantrell", "Mayo", "Branch", "Hendrix", "Rollins",
    "Rowland", "Whitney", "Duke", "Odom", "Daugherty", "Travis", "Tang", "Kowalski", "Nowak", "Schultze",
)

GENERATIONAL_SUFFIXES: tuple[str, str] = ("Jr", "Sr")


class City(NamedTuple):
    name: str
    state: str
    population_k: int
    zip3: tuple[str, ...]
    area_codes: tuple[str, ...]


CITIES: tuple[City, ...] = (
    City("New York", "NY", 8300, ("100", "101", "102", "112", "113"), ("212", "646", "718", "917")),
    City("Los Angeles", "CA", 3900, ("900", "913"), ("213", "310", "323", "818")),
    City("Chicago", "IL", 2700, ("606",), ("312", "773", "872")),
    City("Houston", "TX", 2300, ("770",), ("713", "281", "832")),
    City("Phoenix", "AZ", 1600, ("850",), ("602", "480", "623")),
    City("Philadelphia", "PA", 1600, ("191",), ("215", "267")),
    City("San Antonio", "TX", 1450, ("782",), ("210",)),
    City("San Diego", "CA", 1400, ("921",), ("619", "858")),
    City("Dallas", "TX", 1300, ("752",), ("214", "469", "972")),
    City("San Jose", "CA", 1000, ("951",), ("408", "669")),
    City("Austin", "TX", 960, ("787",), ("512", "737")),
    City("Jacksonville", "FL", 950, ("322",), ("904",)),
    City("Fort Worth", "TX", 920, ("761",), ("817", "682")),
    City("Columbus", "OH", 900, ("432",), ("614", "380")),
    City("Charlotte", "NC", 870, ("282",), ("704", "980")),
    City("Indianapolis", "IN", 880, ("462",), ("317",)),
    City("San Francisco", "CA", 810, ("941",), ("415", "628")),
    City("Seattle", "WA", 740, ("981",), ("206",)),
    City("Denver", "CO", 710, ("802",), ("303", "720")),
    City("Washington", "DC", 690, ("200",), ("202",)),
    City("Boston", "MA", 680, ("021",), ("617", "857")),
    City("Nashville", "TN", 690, ("372",), ("615", "629")),
    City("El Paso", "TX", 680, ("799",), ("915",)),
    City("Detroit", "MI", 630, ("482",), ("313",)),
    City("Oklahoma City", "OK", 680, ("731",), ("405",)),
    City("Portland", "OR", 650, ("972",), ("503", "971")),
    City("Las Vegas", "NV", 650, ("891",), ("702", "725")),
    City("Memphis", "TN", 630, ("381",), ("901",)),
    City("Louisville", "KY", 620, ("402",), ("502",)),
    City("Baltimore", "MD", 580, ("212",), ("410", "443")),
    City("Milwaukee", "WI", 570, ("532",), ("414",)),
    City("Albuquerque", "NM", 560, ("871",), ("505",)),
    City("Tucson", "AZ", 540, ("857",), ("520",)),
    City("Fresno", "CA", 540, ("937",), ("559",)),
    City("Sacramento", "CA", 520, ("958",), ("916",)),
    City("Kansas City", "MO", 500, ("641",), ("816",)),
    City("Kansas City", "KS", 155, ("661",), ("913",)),
    City("Mesa", "AZ", 500, ("852",), ("480",)),
    City("Atlanta", "GA", 500, ("303",), ("404", "470", "678")),
    City("Omaha", "NE", 480, ("681",), ("402",)),
    City("Colorado Springs", "CO", 480, ("809",), ("719",)),
    City("Raleigh", "NC", 470, ("276",), ("919", "984")),
    City("Miami", "FL", 440, ("331",), ("305", "786")),
    City("Long Beach", "CA", 460, ("908",), ("562",)),
    City("Virginia Beach", "VA", 450, ("234",), ("757",)),
    City("Oakland", "CA", 430, ("946",), ("510",)),
    City("Minneapolis", "MN", 430, ("554",), ("612",)),
    City("Tulsa", "OK", 410, ("741",), ("918",)),
    City("Tampa", "FL", 390, ("336",), ("813",)),
    City("Arlington", "TX", 390, ("760",), ("817", "682")),
    City("Arlington", "VA", 235, ("222",), ("703", "571")),
    City("New Orleans", "LA", 380, ("701",), ("504",)),
    City("Wichita", "KS", 390, ("672",), ("316",)),
    City("Cleveland", "OH", 370, ("441",), ("216",)),
    City("Bakersfield", "CA", 400, ("933",), ("661",)),
    City("Aurora", "CO", 390, ("800",), ("303", "720")),
    City("Aurora", "IL", 180, ("605",), ("630", "331")),
    City("Anaheim", "CA", 350, ("928",), ("714", "657")),
    City("Honolulu", "HI", 350, ("968",), ("808",)),
    City("Santa Ana", "CA", 310, ("927",), ("714", "657")),
    City("Riverside", "CA", 320, ("925",), ("951",)),
    City("Corpus Christi", "TX", 320, ("784",), ("361",)),
    City("Lexington", "KY", 320, ("405",), ("859",)),
    City("Stockton", "CA", 320, ("952",), ("209",)),
    City("St. Louis", "MO", 290, ("631",), ("314",)),
    City("Saint Paul", "MN", 310, ("551",), ("651",)),
    City("Henderson", "NV", 320, ("890",), ("702", "725")),
    City("Pittsburgh", "PA", 300, ("152",), ("412", "878")),
    City("Cincinnati", "OH", 310, ("452",), ("513",)),
    City("Anchorage", "AK", 290, ("995",), ("907",)),
    City("Greensboro", "NC", 300, ("274",), ("336",)),
    City("Plano", "TX", 290, ("750",), ("972", "469")),
    City("Newark", "NJ", 310, ("071",), ("973", "862")),
    City("Lincoln", "NE", 290, ("685",), ("402",)),
    City("Orlando", "FL", 310, ("328",), ("407", "321")),
    City("Irvine", "CA", 310, ("926",), ("949",)),
    City("Toledo", "OH", 270, ("436",), ("419",)),
    City("Jersey City", "NJ", 290, ("073",), ("201", "551")),
    City("Durham", "NC", 290, ("277",), ("919", "984")),
    City("Fort Wayne", "IN", 270, ("468",), ("260",)),
    City("St. Petersburg", "FL", 260, ("337",), ("727",)),
    City("Laredo", "TX", 260, ("780",), ("956",)),
    City("Buffalo", "NY", 280, ("142",), ("716",)),
    City("Madison", "WI", 270, ("537",), ("608",)),
    City("Lubbock", "TX", 260, ("794",), ("806",)),
    City("Chandler", "AZ", 280, ("852",), ("480",)),
    City("Scottsdale", "AZ", 240, ("852",), ("480",)),
    City("Reno", "NV", 260, ("895",), ("775",)),
    City("Norfolk", "VA", 240, ("235",), ("757",)),
    City("Winston-Salem", "NC", 250, ("271",), ("336",)),
    City("Richmond", "VA", 230, ("232",), ("804",)),
    City("Boise", "ID", 235, ("837",), ("208", "986")),
    City("Baton Rouge", "LA", 225, ("708",), ("225",)),
    City("Des Moines", "IA", 215, ("503",), ("515",)),
    City("Spokane", "WA", 230, ("992",), ("509",)),
    City("Tacoma", "WA", 220, ("984",), ("253",)),
    City("Birmingham", "AL", 200, ("352",), ("205",)),
    City("Rochester", "NY", 210, ("146",), ("585",)),
    City("Salt Lake City", "UT", 200, ("841",), ("801", "385")),
    City("Grand Rapids", "MI", 200, ("495",), ("616",)),
    City("Huntsville", "AL", 215, ("358",), ("256",)),
    City("Knoxville", "TN", 190, ("379",), ("865",)),
    City("Worcester", "MA", 205, ("016",), ("508", "774")),
    City("Providence", "RI", 190, ("029",), ("401",)),
    City("Columbus", "GA", 205, ("319",), ("706", "762")),
    City("Springfield", "MO", 170, ("658",), ("417",)),
    City("Springfield", "MA", 155, ("011",), ("413",)),
    City("Springfield", "IL", 115, ("627",), ("217",)),
    City("Hartford", "CT", 120, ("061",), ("860", "959")),
    City("Columbia", "SC", 135, ("292",), ("803", "839")),
    City("Jackson", "MS", 150, ("392",), ("601", "769")),
    City("Little Rock", "AR", 200, ("722",), ("501",)),
    City("Sioux Falls", "SD", 195, ("571",), ("605",)),
    City("Fargo", "ND", 125, ("581",), ("701",)),
    City("Billings", "MT", 115, ("591",), ("406",)),
    City("Portland", "ME", 68, ("041",), ("207",)),
    City("Manchester", "NH", 115, ("031",), ("603",)),
    City("Burlington", "VT", 45, ("054",), ("802",)),
    City("Wilmington", "DE", 70, ("198",), ("302",)),
    City("Charleston", "WV", 48, ("253",), ("304", "681")),
    City("Cheyenne", "WY", 65, ("820",), ("307",)),
)

STATE_NAMES: dict[str, str] = {
    "AK": "Alaska", "AL": "Alabama", "AR": "Arkansas", "AZ": "Arizona", "CA": "California", "CO": "Colorado",
    "CT": "Connecticut", "DC": "District of Columbia", "DE": "Delaware", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "IA": "Iowa", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "MA": "Massachusetts", "MD": "Maryland", "ME": "Maine",
    "MI": "Michigan", "MN": "Minnesota", "MO": "Missouri", "MS": "Mississippi", "MT": "Montana",
    "NC": "North Carolina", "ND": "North Dakota", "NE": "Nebraska", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NV": "Nevada", "NY": "New York", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VA": "Virginia", "VT": "Vermont", "WA": "Washington",
    "WI": "Wisconsin", "WV": "West Virginia", "WY": "Wyoming",
}

STREET_NAMES: tuple[str, ...] = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park",
    "Walnut", "Spring", "Sunset", "Highland", "Jefferson", "Lincoln", "Madison", "Franklin", "Jackson", "Church",
    "Center", "Mill", "River", "Ridge", "Willow", "Chestnut", "Meadow", "Forest", "Cherry", "Birch",
    "Dogwood", "Magnolia", "Sycamore", "Hickory", "Poplar", "Spruce", "Laurel", "Valley", "Lakeview", "Hillcrest",
    "Woodland", "Fairview", "Prospect", "Union", "Market", "Broad", "High", "School", "College", "Academy",
    "Mountain View", "Country Club", "Orchard", "Railroad", "Water", "Bridge", "Mill Creek", "Cambridge", "Oxford",
    "Windsor", "Kingston", "Lexington", "Adams", "Monroe", "Grant", "Wilson", "Cleveland", "Hamilton", "Pleasant",
    "Green", "Cottage", "Heritage", "Harbor", "Bay", "Shore", "Canyon", "Mesa", "Sierra", "Vista",
    "Rio Grande", "Peachtree", "Evergreen", "Rosewood", "Briarwood", "Foxglove", "Aspen", "Juniper", "Sage",
    "Colonial", "Liberty", "Independence", "Veterans", "Martin Luther King Jr", "1st", "2nd", "3rd", "4th", "5th",
    "6th", "7th", "8th", "9th", "10th", "12th", "14th", "16th", "21st", "42nd",
)


class Abbreviable(NamedTuple):
    """A word postal addresses write either in full or abbreviated (USPS Publication 28)."""

    full: str
    abbreviation: str
    weight: float


STREET_TYPES: tuple[Abbreviable, ...] = (
    Abbreviable("Street", "St", 25), Abbreviable("Avenue", "Ave", 18), Abbreviable("Drive", "Dr", 14),
    Abbreviable("Road", "Rd", 12), Abbreviable("Lane", "Ln", 8), Abbreviable("Court", "Ct", 6),
    Abbreviable("Boulevard", "Blvd", 4), Abbreviable("Place", "Pl", 4), Abbreviable("Way", "Way", 4),
    Abbreviable("Circle", "Cir", 3), Abbreviable("Terrace", "Ter", 1), Abbreviable("Parkway", "Pkwy", 1),
)

DIRECTIONS: tuple[Abbreviable, ...] = (
    Abbreviable("North", "N", 1), Abbreviable("South", "S", 1), Abbreviable("East", "E", 1),
    Abbreviable("West", "W", 1),
)

UNIT_TYPES: tuple[Abbreviable, ...] = (
    Abbreviable("Apartment", "Apt", 70), Abbreviable("Unit", "Unit", 15), Abbreviable("Suite", "Ste", 15),
)

COUNTRY_VARIANTS: tuple[str, ...] = ("US", "USA", "United States", "U.S.A.", "United States of America")

PERSONAL_EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 34), ("yahoo.com", 13), ("hotmail.com", 8), ("outlook.com", 8), ("icloud.com", 7),
    ("aol.com", 4), ("comcast.net", 4), ("msn.com", 2), ("live.com", 2), ("att.net", 2), ("me.com", 2),
    ("sbcglobal.net", 2), ("verizon.net", 1), ("protonmail.com", 1),
)

COMPANY_WORDS: tuple[str, ...] = (
    "Acme", "Summit", "Pioneer", "Blue Ridge", "Evergreen", "Northstar", "Keystone", "Liberty", "Cascade",
    "Redwood", "Harbor", "Granite", "Silverline", "Bright Path", "Sterling", "Riverbend", "Oakmont", "Lakeside",
    "Pinnacle", "Horizon", "Meridian", "Atlas", "Beacon", "Crescent", "Frontier", "Heritage", "Iron Gate",
    "Juniper", "Prairie", "Quantum", "Sunrise", "Tri-County", "Union", "Vanguard", "Westfield", "Apex",
    "Bayview", "Cedar Creek", "Golden State", "Lone Star", "Great Lakes", "Magnolia", "Coastal", "Metro",
)

COMPANY_TRADES: tuple[str, ...] = (
    "Logistics", "Dental", "Consulting", "Construction", "Realty", "Software", "Insurance", "Foods",
    "Plumbing", "Electric", "Auto Repair", "Landscaping", "Marketing", "Financial", "Medical Group",
    "Law Group", "Design", "Manufacturing", "Health", "Analytics", "Roofing", "Veterinary", "Printing",
)

COMPANY_FORMS: tuple[str, ...] = (" Inc.", " LLC", ", Inc.", " Co.", " Corp.", " Group", " Partners", "", " Ltd.",
                                  " & Sons")

"""Country names → ISO 3166-1 alpha-2 codes, for exports that write "Germany" rather than "DE".

HubSpot's "Country/Region" and Salesforce's "Country" are free text in most
portals. Names are compared by `country_key` (case, accents, punctuation and
"the" ignored), so "Côte d'Ivoire", "cote divoire" and "COTE D'IVOIRE" agree.
"""

import unicodedata

_ISO = """
AD Andorra|AE United Arab Emirates|AF Afghanistan|AG Antigua and Barbuda|AI Anguilla|AL Albania
AM Armenia|AO Angola|AQ Antarctica|AR Argentina|AS American Samoa|AT Austria|AU Australia|AW Aruba
AX Aland Islands|AZ Azerbaijan|BA Bosnia and Herzegovina|BB Barbados|BD Bangladesh|BE Belgium
BF Burkina Faso|BG Bulgaria|BH Bahrain|BI Burundi|BJ Benin|BL Saint Barthelemy|BM Bermuda
BN Brunei Darussalam|BO Bolivia|BQ Bonaire, Sint Eustatius and Saba|BR Brazil|BS Bahamas|BT Bhutan
BV Bouvet Island|BW Botswana|BY Belarus|BZ Belize|CA Canada|CC Cocos (Keeling) Islands
CD Congo, Democratic Republic of the|CF Central African Republic|CG Congo|CH Switzerland
CI Cote d'Ivoire|CK Cook Islands|CL Chile|CM Cameroon|CN China|CO Colombia|CR Costa Rica|CU Cuba
CV Cabo Verde|CW Curacao|CX Christmas Island|CY Cyprus|CZ Czechia|DE Germany|DJ Djibouti|DK Denmark
DM Dominica|DO Dominican Republic|DZ Algeria|EC Ecuador|EE Estonia|EG Egypt|EH Western Sahara
ER Eritrea|ES Spain|ET Ethiopia|FI Finland|FJ Fiji|FK Falkland Islands (Malvinas)|FM Micronesia
FO Faroe Islands|FR France|GA Gabon|GB United Kingdom|GD Grenada|GE Georgia|GF French Guiana
GG Guernsey|GH Ghana|GI Gibraltar|GL Greenland|GM Gambia|GN Guinea|GP Guadeloupe
GQ Equatorial Guinea|GR Greece|GS South Georgia and the South Sandwich Islands|GT Guatemala|GU Guam
GW Guinea-Bissau|GY Guyana|HK Hong Kong|HM Heard Island and McDonald Islands|HN Honduras|HR Croatia
HT Haiti|HU Hungary|ID Indonesia|IE Ireland|IL Israel|IM Isle of Man|IN India
IO British Indian Ocean Territory|IQ Iraq|IR Iran|IS Iceland|IT Italy|JE Jersey|JM Jamaica|JO Jordan
JP Japan|KE Kenya|KG Kyrgyzstan|KH Cambodia|KI Kiribati|KM Comoros|KN Saint Kitts and Nevis
KP North Korea|KR South Korea|KW Kuwait|KY Cayman Islands|KZ Kazakhstan|LA Laos|LB Lebanon
LC Saint Lucia|LI Liechtenstein|LK Sri Lanka|LR Liberia|LS Lesotho|LT Lithuania|LU Luxembourg
LV Latvia|LY Libya|MA Morocco|MC Monaco|MD Moldova|ME Montenegro|MF Saint Martin (French part)
MG Madagascar|MH Marshall Islands|MK North Macedonia|ML Mali|MM Myanmar|MN Mongolia|MO Macao
MP Northern Mariana Islands|MQ Martinique|MR Mauritania|MS Montserrat|MT Malta|MU Mauritius
MV Maldives|MW Malawi|MX Mexico|MY Malaysia|MZ Mozambique|NA Namibia|NC New Caledonia|NE Niger
NF Norfolk Island|NG Nigeria|NI Nicaragua|NL Netherlands|NO Norway|NP Nepal|NR Nauru|NU Niue
NZ New Zealand|OM Oman|PA Panama|PE Peru|PF French Polynesia|PG Papua New Guinea|PH Philippines
PK Pakistan|PL Poland|PM Saint Pierre and Miquelon|PN Pitcairn|PR Puerto Rico|PS Palestine
PT Portugal|PW Palau|PY Paraguay|QA Qatar|RE Reunion|RO Romania|RS Serbia|RU Russia|RW Rwanda
SA Saudi Arabia|SB Solomon Islands|SC Seychelles|SD Sudan|SE Sweden|SG Singapore
SH Saint Helena, Ascension and Tristan da Cunha|SI Slovenia|SJ Svalbard and Jan Mayen|SK Slovakia
SL Sierra Leone|SM San Marino|SN Senegal|SO Somalia|SR Suriname|SS South Sudan
ST Sao Tome and Principe|SV El Salvador|SX Sint Maarten (Dutch part)|SY Syria|SZ Eswatini
TC Turks and Caicos Islands|TD Chad|TF French Southern Territories|TG Togo|TH Thailand|TJ Tajikistan
TK Tokelau|TL Timor-Leste|TM Turkmenistan|TN Tunisia|TO Tonga|TR Turkey|TT Trinidad and Tobago
TV Tuvalu|TW Taiwan|TZ Tanzania|UA Ukraine|UG Uganda|UM United States Minor Outlying Islands
US United States|UY Uruguay|UZ Uzbekistan|VA Holy See|VC Saint Vincent and the Grenadines
VE Venezuela|VG Virgin Islands (British)|VI Virgin Islands (U.S.)|VN Vietnam|VU Vanuatu
WF Wallis and Futuna|WS Samoa|YE Yemen|YT Mayotte|ZA South Africa|ZM Zambia|ZW Zimbabwe
"""

# Other names people and CRMs use for the same countries.
_ALIASES = {
    "USA": "US", "U.S.A.": "US", "U.S.": "US", "United States of America": "US", "America": "US",
    "UK": "GB", "U.K.": "GB", "Great Britain": "GB", "Britain": "GB", "England": "GB", "Scotland": "GB",
    "Wales": "GB", "Northern Ireland": "GB", "United Kingdom of Great Britain and Northern Ireland": "GB",
    "Deutschland": "DE", "Czech Republic": "CZ", "Holland": "NL", "The Netherlands": "NL",
    "Nederland": "NL", "Espana": "ES", "Italia": "IT", "Schweiz": "CH", "Suisse": "CH", "Osterreich": "AT",
    "Belgique": "BE", "Belgie": "BE", "Sverige": "SE", "Norge": "NO", "Danmark": "DK", "Suomi": "FI",
    "Polska": "PL", "Brasil": "BR", "Mexique": "MX", "Russian Federation": "RU", "Korea": "KR",
    "Republic of Korea": "KR", "Korea, Republic of": "KR", "South Korea": "KR",
    "Democratic People's Republic of Korea": "KP", "Viet Nam": "VN", "Ivory Coast": "CI",
    "Turkiye": "TR", "Macedonia": "MK", "Swaziland": "SZ", "Burma": "MM", "Cape Verde": "CV",
    "East Timor": "TL", "Vatican": "VA", "Vatican City": "VA", "UAE": "AE", "Emirates": "AE",
    "Hong Kong SAR": "HK", "Macau": "MO", "Taiwan, Province of China": "TW",
    "Iran, Islamic Republic of": "IR", "Moldova, Republic of": "MD", "Tanzania, United Republic of": "TZ",
    "Bolivia, Plurinational State of": "BO",
    "Venezuela, Bolivarian Republic of": "VE", "Lao People's Democratic Republic": "LA",
    "Syrian Arab Republic": "SY", "Palestine, State of": "PS", "DR Congo": "CD", "DRC": "CD",
    "Democratic Republic of the Congo": "CD", "Republic of the Congo": "CG", "Brunei": "BN",
    "Micronesia, Federated States of": "FM", "Saint Barthélemy": "BL", "Curaçao": "CW", "Réunion": "RE",
}  # fmt: skip


def country_key(name: str) -> str:
    text = unicodedata.normalize("NFKD", name.casefold())
    text = "".join(ch for ch in text if ch.isalnum())
    return text.removeprefix("the")


def _build() -> dict[str, str]:
    table = {}
    for line in _ISO.strip().splitlines():
        for entry in line.split("|"):
            code, _, name = entry.strip().partition(" ")
            table[country_key(name)] = code
    for name, code in _ALIASES.items():
        table[country_key(name)] = code
    return table


COUNTRY_CODES: dict[str, str] = _build()
ISO_CODES = frozenset(COUNTRY_CODES.values())


def country_code(value: str) -> str | None:
    """The two-letter code for a code or a country name, or None when it is neither."""
    value = value.strip()
    if len(value) == 2 and value.isascii() and value.isalpha():
        code = value.upper()
        return "GB" if code == "UK" else code
    return COUNTRY_CODES.get(country_key(value))

nearest-where = Send your location, or write the name of your regency or city.
nearest-list =
    Nearest services:

    { $services }
nearest-none = We have no list of services for that area yet. Contact SAPA 129: call 129, WhatsApp 08111-129-129.

nearest-where = Kirim lokasi Anda, atau tulis nama kabupaten/kota Anda.
nearest-list =
    Layanan terdekat:

    { $services }
nearest-none = Daftar layanan untuk daerah itu belum tersedia. Hubungi SAPA 129: telepon 129, WhatsApp 08111-129-129.

# Layanan informasi (flows/information.yaml). Semua id diawali `info-`.
# Setiap pesan paling banyak 300 karakter GSM-7 polos (2 SMS): tanpa emoji, tanpa tanda kutip
# lengkung atau tanda pisah panjang.

info-intro = Informasi di sini bersifat umum. Bila Anda dalam bahaya, ketik "darurat" kapan saja.
info-topics = Pilih topik yang ingin Anda baca:
info-topic-tpks = Kekerasan seksual
info-topic-kinds = Jenis kekerasan
info-topic-rights = Hak Anda
info-topic-report = Cara melapor
info-topic-legal = Bantuan hukum
info-topic-health = Kesehatan
info-topic-empower = Pemberdayaan ekonomi
info-topic-after = Setelah melapor
info-done = Selesai
info-next = Ada topik lain yang ingin Anda baca?
info-next-topics = Topik lain

# 1. UU No. 12 Tahun 2022 (TPKS)
info-tpks-1 =
    UU TPKS (UU No. 12 Tahun 2022) Pasal 4 ayat 1 menyebut 9 bentuk:
    - pelecehan seksual nonfisik
    - pelecehan seksual fisik
    - pemaksaan kontrasepsi
    - pemaksaan sterilisasi
    - pemaksaan perkawinan
    - penyiksaan seksual
    - eksploitasi seksual
    - perbudakan seksual
    - kekerasan seksual berbasis elektronik
info-tpks-2 = Pasal 4 ayat 2 menambahkan perbuatan lain, antara lain perkosaan, perbuatan cabul, perbuatan seksual terhadap anak, perdagangan orang untuk eksploitasi seksual, dan kekerasan seksual dalam rumah tangga.
info-tpks-3 = Penting: menurut Pasal 23 UU TPKS, kasus kekerasan seksual tidak boleh diselesaikan di luar pengadilan, termasuk dengan "damai" atau kekeluargaan. Apa pun yang terjadi, itu bukan salah Anda. UPTD PPA dan SAPA 129 dapat mendampingi Anda.

# 2. Jenis kekerasan
info-kinds-1 =
    Bentuk kekerasan antara lain:
    - Fisik: memukul, menendang, atau melukai tubuh.
    - Psikis: menghina, mengancam, menakut-nakuti, atau mengekang.
    - Seksual: perbuatan seksual tanpa persetujuan Anda.
    - Penelantaran: tidak memberi nafkah atau perawatan yang seharusnya ia berikan.
info-kinds-2 =
    - Eksploitasi: memanfaatkan Anda demi keuntungan orang lain, misalnya dipaksa bekerja tanpa upah.
    - Perdagangan orang (TPPO): merekrut, membawa, atau menampung orang dengan tipu daya atau paksaan untuk dieksploitasi.
info-kinds-3 = Kekerasan terhadap perempuan yang dilaporkan paling banyak terjadi di dalam rumah tangga (KDRT). Apa pun bentuknya, itu bukan salah Anda, dan Anda berhak mendapat bantuan.

# 3. Hak Anda
info-rights-1 =
    Sebagai korban, Anda berhak:
    - dipercaya dan diperlakukan dengan hormat
    - dijaga kerahasiaannya
    - mendapat perlindungan
    - memutuskan sendiri langkah yang ingin Anda ambil
info-rights-2 = Anda juga berhak mendapat layanan, seperti pendampingan, layanan kesehatan, bantuan hukum, dukungan psikologis, dan tempat tinggal aman sementara bila perlu. Anda boleh bertanya dulu dan tidak harus memutuskan semuanya sekarang.

# 4. Cara melapor
info-report-1 = Anda bisa melapor ke UPTD PPA (Unit Pelaksana Teknis Daerah Perlindungan Perempuan dan Anak) di kabupaten/kota atau provinsi Anda. Layanannya: pengaduan, penjangkauan, pengelolaan kasus, penampungan sementara, mediasi, dan pendampingan.
info-report-2 = Mediasi bukan untuk kekerasan seksual: kasus kekerasan seksual tidak boleh diselesaikan di luar pengadilan. SAPA 129 juga menerima laporan: telepon 129 (dari HP 021-129) atau WhatsApp 08111-129-129. SAPA 129 meneruskannya ke UPTD PPA di daerah Anda.
info-report-3 = Anda juga bisa melapor ke kantor polisi terdekat. Dalam keadaan darurat, hubungi polisi di 110 atau layanan darurat 112, atau ketik "darurat" di sini.

# 5. Bantuan hukum
info-legal-1 = UPTD PPA dapat mendampingi Anda, termasuk dalam proses hukum, dan merujuk Anda ke layanan bantuan hukum. Lembaga bantuan hukum (LBH) memberi bantuan hukum gratis bagi yang tidak mampu membayar.
info-legal-2 = Untuk mencari LBH terdekat, tanyakan ke UPTD PPA atau SAPA 129 (telepon 129, WhatsApp 08111-129-129). Anda boleh bertanya dulu sebelum memutuskan langkah apa pun.

# 6. Kesehatan
info-health-1 = Bila Anda terluka atau merasa sakit, datanglah ke puskesmas atau rumah sakit. Setelah kekerasan seksual, cari layanan kesehatan secepatnya, sebaiknya dalam 72 jam (3 hari).
info-health-2 = Dalam 72 jam, petugas dapat memberi kontrasepsi darurat untuk mencegah kehamilan dan obat pencegahan HIV. Lewat dari itu pun, tetap datang: Anda tetap bisa dibantu. Bila aman, simpan pakaian saat kejadian tanpa dicuci, karena bisa menjadi bukti.
info-health-3 = Petugas kesehatan harus menjaga kerahasiaan Anda. Anda boleh bertanya sebelum setiap pemeriksaan, dan boleh minta ditemani pendamping, misalnya dari UPTD PPA.

# 7. Pemberdayaan ekonomi
info-empower-1 = Lembaga Penyedia Layanan Pemberdayaan Perempuan (LPLPP) memberi informasi, konsultasi, pelatihan, dan jejaring di bidang politik, hukum, kesehatan, lingkungan, pendidikan, dan ekonomi, misalnya pelatihan usaha.
info-empower-2 = Banyak LPLPP adalah organisasi perempuan di tingkat kabupaten. Untuk mencari yang terdekat, tanyakan ke UPTD PPA atau dinas yang mengurus pemberdayaan perempuan di daerah Anda.

# 8. Setelah melapor
info-after-1 =
    Setelah Anda melapor:
    - pengaduan Anda diterima
    - petugas memilahnya menurut jenis kasus, tingkat risiko, dan lembaga yang berwenang
    - keadaan dan kebutuhan Anda dinilai lebih lanjut
    - rencana bantuan disusun bersama Anda
info-after-2 = Setiap layanan dicatat di SIMFONI PPA, sistem informasi nasional untuk perlindungan perempuan dan anak. Di setiap langkah, Anda boleh bertanya dan menentukan pilihan Anda.
